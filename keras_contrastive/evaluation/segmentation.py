"""Semantic segmentation transfer: a head on the frozen feature map, scored by mIoU.

The main transfer protocol of "Revisiting..." (Table 4, PASCAL VOC) and of
LeOCLR's transfer tables, at this library's scale: the pretrained encoder is
frozen, its feature map (the encoder before its global pooling,
``evaluation.dense_features``) is computed once, and a head is trained on it
with per-pixel cross-entropy against the masks:

* ``head="linear"``: a 1x1 convolution on the standardised feature map (one
  linear classifier per position, the same weights everywhere), its logits
  upsampled bilinearly to the mask's size; the dense analogue of the linear
  probe.
* ``head="decoder"``: a small decoder, two 3x3 convolution + batch-norm +
  ReLU blocks with a 2x bilinear upsampling between them, then a 1x1
  convolution and the bilinear upsampling to the mask's size.

Both are scored by ``mean_iou`` on the test masks.

Example:

>>> from keras_contrastive import backbones
>>> from keras_contrastive.data import fashion_scenes
>>> from keras_contrastive.evaluation import segmentation_transfer
>>> train, test = fashion_scenes("train", 64, size=32), fashion_scenes("test", 32, size=32)
>>> result = segmentation_transfer(backbones.resnet18((32, 32, 3), width=4),
...                                (train.images, train.masks), (test.images, test.masks),
...                                num_classes=11, epochs=2)
>>> sorted(result)
['iou', 'miou', 'pixel_acc', 'predictions']
"""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive._checks import is_positive_int
from keras_contrastive.backbones import spatial_encoder, spatial_layout
from keras_contrastive.evaluation.dense import dense_features
from keras_contrastive.evaluation.masks import check_mask_pairs, mean_iou

__all__ = ["segmentation_transfer", "SEGMENTATION_HEADS"]

SEGMENTATION_HEADS = ("linear", "decoder")


def _head(kind, feature_shape, num_classes, mask_size, mean, variance, seed):
    features = keras.Input(feature_shape)
    x = keras.layers.Normalization(mean=mean, variance=variance)(features)
    init = keras.initializers.GlorotUniform(seed=seed)
    if kind == "decoder":
        for i, filters in enumerate((128, 64)):
            if i:
                x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    kernel_initializer=init)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
    logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=init)(x)
    logits = keras.layers.Resizing(*mask_size, interpolation="bilinear")(logits)
    return keras.Model(features, logits, name=f"segmentation_{kind}_head")


class _MaskedCrossEntropy(keras.losses.Loss):
    """Per-pixel cross-entropy, ``ignore_index`` pixels left out of the mean."""

    def __init__(self, ignore_index, **kwargs):
        super().__init__(**kwargs)
        self.ignore_index = ignore_index

    def call(self, masks, logits):
        masks = tf.cast(masks, tf.int32)
        keep = tf.not_equal(masks, self.ignore_index)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.where(keep, masks, 0), tf.cast(logits, tf.float32))
        keep = tf.cast(keep, tf.float32)
        return tf.reduce_sum(losses * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)


def _feature_maps(encoder, images):
    """``[N, h, w, D]`` frozen spatial features: a feature map, or a ViT's patch tokens on their
    grid (``backbones.spatial_encoder`` / ``spatial_layout``)."""
    if len(encoder.output_shape) == 4:  # already a feature-map model
        return dense_features(encoder, images)
    layout = spatial_layout(encoder, images.shape[1:])
    network = spatial_encoder(encoder)
    if layout.kind == "feature_map":
        return dense_features(network, images)
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    tokens = network.predict(images.astype(np.float32) * scale, batch_size=256, verbose=0)
    return tokens.reshape(len(images), *layout.grid, -1).astype(np.float32)


def segmentation_transfer(encoder, train, test, num_classes=None, head="linear", epochs=20,
                          batch_size=64, learning_rate=None, ignore_index=255, seed=0,
                          verbose=0):
    """mIoU of a segmentation head trained on the frozen encoder's feature map.

    Args:
        encoder: an encoder with spatial features (``backbones.spatial_encoder``:
            a convolutional encoder's feature map before its global pooling,
            or a ViT's patch tokens, laid out on their grid), or a model that
            outputs the feature map ``[B, h, w, D]`` itself.
        train, test: ``(images, masks)``: images ``[N, H, W, C]`` (uint8 or
            float in [0, 1]) and integer masks ``[N, H, W]``.
        num_classes: classes of the masks (default: the largest id + 1).
        head: ``"linear"`` (1x1 convolution) or ``"decoder"`` (two 3x3
            convolution blocks, see the module docstring).
        epochs: passes of Adam over the training feature maps.
        batch_size: feature maps per step.
        learning_rate: Adam's rate (default 1e-2 linear, 1e-3 decoder).
        ignore_index: mask value that is neither trained nor scored.
        seed: the head's initialisation and the order of its batches.
        verbose: Keras ``fit`` verbosity.

    Returns:
        ``{"miou", "pixel_acc", "iou" ([num_classes], NaN for absent
        classes), "predictions" ([N_test, H, W])}`` on the test masks.

    Example:

    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.data import fashion_scenes
    >>> from keras_contrastive.evaluation import segmentation_transfer
    >>> train, test = fashion_scenes("train", 32, size=32), fashion_scenes("test", 16, size=32)
    >>> result = segmentation_transfer(backbones.small_cnn((32, 32, 3)), (train.images, train.masks),
    ...                                (test.images, test.masks), num_classes=11, head="decoder",
    ...                                epochs=1)
    >>> result["predictions"].shape, 0.0 <= result["miou"] <= 1.0
    ((16, 32, 32), True)
    """
    train_images, train_masks = check_mask_pairs("train", *train)
    test_images, test_masks = check_mask_pairs("test", *test)
    if head not in SEGMENTATION_HEADS:
        raise ValueError(f"`head` must be one of {SEGMENTATION_HEADS}, got {head!r}.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not is_positive_int(value):
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    valid = train_masks[train_masks != ignore_index]
    if valid.size == 0:
        raise ValueError("every training pixel is `ignore_index`: nothing to train on.")
    num_classes = num_classes or int(max(valid.max(), test_masks[test_masks != ignore_index].max(
        initial=0))) + 1
    if valid.max() >= num_classes:
        raise ValueError(f"masks hold class {int(valid.max())} but num_classes={num_classes}.")
    train_features = _feature_maps(encoder, train_images)
    test_features = _feature_maps(encoder, test_images)
    mean = train_features.mean(axis=(0, 1, 2))
    variance = train_features.var(axis=(0, 1, 2)) + 1e-6
    keras.utils.set_random_seed(seed)
    model = _head(head, train_features.shape[1:], num_classes, train_masks.shape[1:], mean,
                  variance, seed)
    rate = learning_rate or (1e-2 if head == "linear" else 1e-3)
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss=_MaskedCrossEntropy(ignore_index))
    data = tf.data.Dataset.from_tensor_slices((train_features, train_masks)).shuffle(
        len(train_features), seed=seed).batch(batch_size)
    model.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # shuffled above
    logits = model.predict(test_features, batch_size=256, verbose=0)
    predictions = np.argmax(logits, axis=-1)
    result = mean_iou(test_masks, predictions, num_classes, ignore_index)
    result["predictions"] = predictions.astype(np.int64)
    return result
