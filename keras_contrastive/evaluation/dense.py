"""Dense evaluation: what the encoder's feature map (before global pooling) knows.

* ``dense_encoder``: the encoder up to its final global pooling
  (``backbones.spatial_encoder``, for convolutional encoders).
* ``segment_retrieval``: "Revisiting..." A.7 -- K-means regions per image,
  region descriptors labelled by their nearest training region, mIoU.
* ``class_activation_maps`` (Zhou et al., 2016; "Revisiting..." Fig. 6):
  the linear classifier applied at every position of the feature map.
"""
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import plotting
from keras_contrastive.backbones import spatial_encoder, spatial_layout
from keras_contrastive.evaluation.features import inference_function
from keras_contrastive.evaluation.masks import check_mask_pairs, mean_iou

__all__ = ["dense_encoder", "dense_features", "segment_retrieval", "class_activation_maps",
           "pointing_game", "plot_class_activation_maps", "plot_segments"]


def dense_encoder(encoder):
    """The encoder without its final global pooling: images -> ``[B, h, w, D]``.

    ``backbones.spatial_encoder`` for encoders whose spatial features are a
    feature map; a token encoder (a ViT) is refused by name.  The model shares
    the encoder's layers and weights (no copy).

    Example:

    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.evaluation import dense_encoder
    >>> dense_encoder(backbones.resnet18((28, 28, 1), width=4)).output_shape
    (None, 4, 4, 32)
    """
    dense = spatial_encoder(encoder)
    if len(dense.output.shape) != 4:
        raise ValueError(
            f"encoder {encoder.name!r} gives patch tokens, not a feature map (a ViT's output is "
            "its CLS token): dense evaluation needs a convolutional encoder that ends in global "
            "pooling. backbones.spatial_encoder gives its patch tokens.")
    return dense


def dense_features(encoder, images, batch_size=256):
    """NumPy feature maps ``[N, h, w, D]`` of ``images`` (uint8 or float in [0, 1]),
    computed in inference mode.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.evaluation import dense_features
    >>> images = np.zeros((3, 28, 28, 1), np.uint8)
    >>> dense_features(backbones.resnet18((28, 28, 1), width=4), images).shape
    (3, 4, 4, 32)
    """
    network = encoder if len(encoder.output_shape) == 4 else dense_encoder(encoder)
    embed = inference_function(network)  # extract_features' compiled, cached inference
    images = np.asarray(images)
    chunks = [embed(tf.constant(images[i:i + batch_size])).numpy()
              for i in range(0, len(images), batch_size)]
    if not chunks:
        raise ValueError("dense_features: no images given.")
    return np.concatenate(chunks).astype(np.float32)


def _upsample_nearest(labels, height, width):
    """``[N, h, w]`` integer maps -> ``[N, height, width]`` by nearest neighbour."""
    rows = np.minimum((np.arange(height) + 0.5) * labels.shape[1] / height, labels.shape[1] - 1)
    cols = np.minimum((np.arange(width) + 0.5) * labels.shape[2] / width, labels.shape[2] - 1)
    return labels[:, rows.astype(int)][:, :, cols.astype(int)]


def _regions(features, k_clusters, seed):
    """K-means of each image's feature vectors: region maps ``[N, h, w]`` and the
    L2-normalised mean feature of each region, with its image index."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    n, h, w, depth = features.shape
    k = min(k_clusters, h * w)
    maps = np.empty((n, h, w), np.int64)
    descriptors, owners = [], []
    for i in range(n):
        vectors = features[i].reshape(-1, depth).astype(np.float64)
        if k == h * w:
            assignment = np.arange(h * w)
        else:
            with warnings.catch_warnings():  # identical vectors (a uniform image): fewer regions
                warnings.simplefilter("ignore", ConvergenceWarning)
                assignment = KMeans(k, n_init=3, random_state=seed).fit_predict(vectors)
        ids = np.unique(assignment)
        remap = np.full(k, -1)
        remap[ids] = np.arange(len(ids))
        maps[i] = remap[assignment].reshape(h, w)
        for region in ids:
            descriptors.append(vectors[assignment == region].mean(axis=0))
            owners.append(i)
    descriptors = np.asarray(descriptors)
    descriptors /= np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)
    return maps, descriptors, np.asarray(owners)


def segment_retrieval(encoder, train, val, k_clusters=15, num_classes=None, ignore_index=255,
                      seed=0, batch_size=256):
    """Semantic segment retrieval ("Revisiting...", appendix A.7): mIoU without training.

    Each image's feature map (the encoder before its global pooling) is
    clustered with K-means into ``k_clusters`` regions; a region's descriptor
    is the mean feature of its positions (L2-normalised).  A training region
    is labelled with the majority ground-truth class of its pixels (the
    region map is upsampled to the mask's resolution by nearest neighbour;
    ``ignore_index`` pixels do not vote).  Each validation region takes the
    label of its nearest training region (cosine similarity, one neighbour,
    unweighted), and the prediction is scored against the validation masks
    by the mean intersection-over-union over the classes present in the
    ground truth or the prediction.

    Args:
        encoder: a functional/Sequential Keras encoder ending in global
            pooling (``dense_encoder`` finds its feature map).
        train, val: ``(images, masks)``: images ``[N, H, W, C]`` (uint8 or
            float in [0, 1]) and integer masks ``[N, H, W]``.
        k_clusters: regions per image (15 in the paper; capped at h*w).
        num_classes: number of classes (default: the largest id + 1).
        ignore_index: mask value that is not scored.
        seed: K-means seed.
        batch_size: images per encoder call.

    Returns:
        ``{"miou", "pixel_acc", "iou" ([num_classes], NaN for absent
        classes), "predictions" ([N_val, H, W] predicted masks)}``.

    Example:

    >>> import keras
    >>> from keras_contrastive.data import textured_scenes
    >>> from keras_contrastive.evaluation import segment_retrieval
    >>> images, masks = textured_scenes(24, size=(16, 16), seed=0)
    >>> keras.utils.set_random_seed(0)
    >>> encoder = keras.Sequential([keras.Input((16, 16, 1)),
    ...                             keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
    ...                             keras.layers.GlobalAveragePooling2D()])
    >>> result = segment_retrieval(encoder, (images[:16], masks[:16]), (images[16:], masks[16:]),
    ...                            k_clusters=4)
    >>> result["predictions"].shape, 0.0 <= result["miou"] <= 1.0
    ((8, 16, 16), True)
    """
    train_images, train_masks = check_mask_pairs("train", *train)
    val_images, val_masks = check_mask_pairs("val", *val)
    if k_clusters < 1:
        raise ValueError(f"`k_clusters` must be >= 1, got {k_clusters!r}.")
    valid = np.concatenate([train_masks[train_masks != ignore_index],
                            val_masks[val_masks != ignore_index]])
    classes = num_classes or int(valid.max()) + 1
    if valid.max() >= classes:
        raise ValueError(f"masks hold class {int(valid.max())} but num_classes={classes}.")
    height, width = train_masks.shape[1:]

    dense = dense_encoder(encoder)  # one feature-map model (and one trace) for both splits
    train_maps, train_descriptors, train_owner = _regions(
        dense_features(dense, train_images, batch_size), k_clusters, seed)
    full = _upsample_nearest(train_maps, height, width)
    region_labels = np.full(len(train_descriptors), -1)
    first = np.searchsorted(train_owner, np.arange(len(train_images)))
    for i in range(len(train_images)):
        keep = train_masks[i] != ignore_index
        votes = np.zeros((full[i].max() + 1, classes), np.int64)
        np.add.at(votes, (full[i][keep], train_masks[i][keep]), 1)
        has_votes = votes.sum(axis=1) > 0
        region_labels[first[i]:first[i] + len(votes)][has_votes] = votes.argmax(axis=1)[has_votes]
    labelled = region_labels >= 0
    if not labelled.any():
        raise ValueError("every training pixel is `ignore_index`: nothing to retrieve.")

    val_maps, val_descriptors, val_owner = _regions(
        dense_features(dense, val_images, batch_size), k_clusters, seed)
    nearest = np.argmax(val_descriptors @ train_descriptors[labelled].T, axis=1)
    val_region_labels = region_labels[labelled][nearest]
    first = np.searchsorted(val_owner, np.arange(len(val_images)))
    predictions = np.stack([val_region_labels[first[i] + val_maps[i]]
                            for i in range(len(val_images))])
    predictions = _upsample_nearest(predictions, height, width)

    result = mean_iou(val_masks, predictions, classes, ignore_index)
    result["predictions"] = predictions.astype(np.int64)
    return result


def class_activation_maps(encoder, classifier, images, class_ids=None, batch_size=256):
    """Class activation maps (Zhou et al., 2016) of a linear classifier on pooled features.

    For an encoder ending in global average pooling and a linear classifier
    ``s(f) = W f + b``, the map of class ``c`` is ``W_c . f(x, y)`` at every
    position of the feature map: its mean over positions is ``s_c - b_c``,
    which is checked (a non-linear classifier is refused).  Maps are
    upsampled bilinearly to the image size and scaled to [0, 1] per image.

    Args:
        encoder: Keras encoder whose last layer is ``GlobalAveragePooling2D``.
        classifier: features ``[N, D]`` -> scores ``[N, C]``, linear: a
            ``Dense`` layer, the head of a fine-tuned model, or
            ``evaluation.probe_classifier(details)`` of a linear probe.
        images: ``[N, H, W, C]`` uint8 or float in [0, 1].
        class_ids: the class of each image's map (default: the predicted one).
        batch_size: images per encoder call.

    Returns:
        ``{"maps": [N, H, W] in [0, 1], "class_ids": [N], "scores": [N, C]}``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.evaluation import class_activation_maps
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...                             keras.layers.GlobalAveragePooling2D()])
    >>> images = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    >>> result = class_activation_maps(encoder, keras.layers.Dense(3), images)
    >>> result["maps"].shape, result["scores"].shape
    ((2, 8, 8), (2, 3))
    """
    layout = spatial_layout(encoder)
    if layout.kind != "feature_map" or layout.pooling != "mean":
        raise ValueError(
            "class_activation_maps needs an encoder whose last layer is GlobalAveragePooling2D "
            f"(the pooled features must be the mean of the feature map); {encoder.name!r} ends in "
            f"{type(encoder.layers[-1]).__name__}.")
    images = np.asarray(images)
    features = dense_features(spatial_encoder(encoder), images, batch_size)
    n, h, w, depth = features.shape

    def apply(x):
        return np.asarray(keras.ops.convert_to_numpy(classifier(tf.constant(x))), np.float64)

    scores = apply(features.mean(axis=(1, 2)))
    bias = apply(np.zeros((1, depth), np.float32))
    local = apply(features.reshape(-1, depth)).reshape(n, h, w, -1) - bias
    if not np.allclose(local.mean(axis=(1, 2)), scores - bias,
                       atol=1e-3 * max(1.0, float(np.abs(scores).max()))):
        raise ValueError("class_activation_maps needs a linear classifier (features -> W f + b): "
                         "the mean of the maps differs from the class scores.")
    class_ids = (np.argmax(scores, axis=1) if class_ids is None
                 else np.asarray(class_ids, np.int64).reshape(n))
    maps = local[np.arange(n), :, :, class_ids][..., None]
    maps = tf.image.resize(maps.astype(np.float32), images.shape[1:3], method="bilinear")
    maps = maps.numpy()[..., 0]
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    maps = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)
    return {"maps": maps.astype(np.float32), "class_ids": class_ids,
            "scores": scores.astype(np.float32)}


def pointing_game(maps, boxes, tolerance=1):
    """The fraction of maps whose maximum lies on the object (Zhang et al.'s
    pointing game): a hit when the peak of ``maps[i]`` is inside
    ``boxes[i]`` = ``(top, left, height, width)`` widened by ``tolerance``
    pixels on every side.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import pointing_game
    >>> maps = np.zeros((2, 8, 8)); maps[0, 2, 2] = maps[1, 7, 7] = 1.0
    >>> pointing_game(maps, [[1, 1, 3, 3], [1, 1, 3, 3]])
    0.5
    """
    maps, boxes = np.asarray(maps), np.asarray(boxes)
    if maps.ndim != 3 or boxes.shape != (len(maps), 4):
        raise ValueError(f"pointing_game: expected maps [N, H, W] and boxes [N, 4] "
                         f"(top, left, height, width), got {maps.shape} and {boxes.shape}.")
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    peaks = np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)
    inside = (peaks >= boxes[:, :2] - tolerance) & (peaks < boxes[:, :2] + boxes[:, 2:] + tolerance)
    return float(np.mean(np.all(inside, axis=1)))


def plot_class_activation_maps(images, maps, path, titles=None, columns=8):
    """Writes a PNG of each image (top) and its map overlaid in colour (bottom).

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.evaluation import plot_class_activation_maps
    >>> images = np.zeros((2, 8, 8, 1), np.uint8); maps = np.random.rand(2, 8, 8)
    >>> path = plot_class_activation_maps(images, maps, os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    columns, rows = plotting.grid(len(images), columns)
    fig, axes = plotting.figure(2 * rows, columns, figsize=(1.5 * columns, 3.0 * rows))
    for axis in axes.ravel():
        axis.axis("off")
    for i, (image, heat) in enumerate(zip(images, maps)):
        block, column = 2 * (i // columns), i % columns
        top, bottom = axes[block, column], axes[block + 1, column]
        plotting.show_image(top, image)
        if titles is not None:
            top.set_title(str(titles[i]), fontsize=7)
        plotting.show_image(bottom, image)
        bottom.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    return plotting.save(fig, path)


def plot_segments(images, masks, predictions, path, columns=8):
    """Writes a PNG of images, ground-truth masks and predicted masks (three rows per block).

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.evaluation import plot_segments
    >>> masks = np.random.randint(0, 3, (2, 8, 8))
    >>> path = os.path.join(tempfile.mkdtemp(), "s.png")
    >>> path = plot_segments(np.zeros((2, 8, 8, 1)), masks, masks, path)
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    columns, rows = plotting.grid(len(images), columns)
    classes = int(max(np.max(masks), np.max(predictions))) + 1
    fig, axes = plotting.figure(3 * rows, columns, figsize=(1.5 * columns, 4.5 * rows))
    for axis in axes.ravel():
        axis.axis("off")
    for i in range(len(images)):
        block, column = 3 * (i // columns), i % columns
        plotting.show_image(axes[block, column], images[i])
        for offset, labels in ((1, masks[i]), (2, predictions[i])):
            axes[block + offset, column].imshow(labels, cmap="tab10", vmin=0,
                                                vmax=max(classes - 1, 1), interpolation="nearest")
    axes[0, 0].set_title("image / truth / retrieved", fontsize=7, loc="left")
    return plotting.save(fig, path)
