"""Pretext tasks: rotation, jigsaw, colorization and inpainting, trained with ``fit`` on views.

Each reads the first global view (``views["global"][0]``: augment lightly, or
pass ``lambda x: x`` as the augmentation), makes its own inputs and targets
with :mod:`keras_contrastive.views.pretext`, and trains the encoder with a
small head: a classifier (rotation, jigsaw) or an upsampling decoder from the
pooled features (colorization, inpainting).  ``embedding_std`` reads the
encoder's features centred over the batch (the heads have a bias, so their
mean is free).
"""
import keras
import numpy as np
import tensorflow as tf
from keras import layers

from keras_contrastive.models.base import ContrastiveModel, centred
from keras_contrastive.models.registry import COSINE_NOTE, MethodSpec, Paper, register_method
from keras_contrastive.views import pretext


def _classifier(feature_dim, classes, name):
    head = keras.Sequential([layers.Dense(classes, name="logits")], name=name)
    head.build((None, feature_dim))
    return head


def _cross_entropy(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=tf.cast(logits, tf.float32)))


def image_decoder(feature_dim, height, width, channels, name="decoder"):
    """Pooled features ``[B, D]`` -> an image ``[B, H, W, channels]``: a Dense to a
    ``H/4 x W/4`` grid, two stride-2 transposed convolutions, a linear 3x3 conv
    (``H`` and ``W`` multiples of 4).

    Example:

    >>> from keras_contrastive.models.pretext import image_decoder
    >>> image_decoder(64, 28, 28, 1).output_shape
    (None, 28, 28, 1)
    """
    if height % 4 or width % 4:
        raise ValueError(f"image_decoder: {height}x{width} must be multiples of 4.")
    decoder = keras.Sequential([
        layers.Dense((height // 4) * (width // 4) * 64, activation="relu", name="dense"),
        layers.Reshape((height // 4, width // 4, 64)),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu", name="up1"),
        layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu", name="up2"),
        layers.Conv2D(channels, 3, padding="same", name="out"),
    ], name=name)
    decoder.build((None, feature_dim))
    return decoder


class _Pretext(ContrastiveModel):
    """Base: the first global view is the task's image batch."""

    def _images(self, views):
        return views["global"][0]


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RotationPrediction(_Pretext):
    """RotNet (Gidaris et al. 2018): classify which of 0/90/180/270 degrees an image was rotated by.

    Every image of the batch is shown at the four rotations
    (:func:`~keras_contrastive.views.pretext.rotations`); a linear layer on
    the encoder's features predicts the rotation (4-way cross-entropy).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.RotationPrediction(backbones.resnet18((28, 28, 1), width=4))
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        self.classifier = _classifier(self.feature_dim, 4, "rotation_classifier")
        self.built = True

    def compute_objective(self, views, training):
        rotated, labels = pretext.rotations(self._images(views))
        features = self.encoder(rotated, training=training)
        logits = self.classifier(features, training=training)
        return _cross_entropy(labels, logits), {"embeddings": centred(features)}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Jigsaw(_Pretext):
    """Jigsaw puzzles (Noroozi & Favaro 2016): recover which permutation shuffled 9 tiles.

    Each image is cut into 3x3 cells, a jittered tile is taken from each
    (:func:`~keras_contrastive.views.pretext.jigsaw_tiles`), the tiles are
    shuffled by one of ``num_permutations`` permutations of maximal Hamming
    distance, each tile goes through the shared ``encoder`` (the tile
    encoder: it must accept ``tile x tile`` inputs, e.g. ``(None, None, C)``),
    and an MLP on the 9 concatenated features classifies the permutation.

    Args:
        encoder: the tile encoder.
        num_permutations: size of the permutation set (1000 in the paper).
        jitter: pixels of random offset of each tile inside its cell.
        hidden_dim: width of the classifier's hidden layer.
        seed: seed of the permutation set.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> encoder = backbones.resnet18((None, None, 1), width=4)
    >>> model = models.Jigsaw(encoder, num_permutations=30)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)  # 28x28 views -> 9 tiles of 8x8
    """

    config_fields = ("num_permutations", "jitter", "hidden_dim", "seed")
    checks_view_size = False  # the encoder sees tiles, not whole views

    def __init__(self, encoder, num_permutations=1000, jitter=1, hidden_dim=512, seed=0,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())
        self.permutations = pretext.maximal_hamming_permutations(num_permutations, seed=seed)
        self.classifier = keras.Sequential([
            layers.Dense(hidden_dim, activation="relu", name="hidden"),
            layers.Dense(num_permutations, name="logits")], name="permutation_classifier")
        self.classifier.build((None, 9 * self.feature_dim))
        self.built = True

    def permutation_labels(self, images):
        """The permutation drawn for each image: ``[B]`` indices into ``permutations``
        (uniform at random)."""
        return tf.random.uniform([tf.shape(images)[0]], maxval=self.num_permutations,
                                 dtype=tf.int32)

    def compute_objective(self, views, training):
        images = self._images(views)
        tiles = pretext.jigsaw_tiles(images, jitter=self.jitter)
        batch = tf.shape(tiles)[0]
        labels = self.permutation_labels(images)
        shuffled = pretext.permute_tiles(tiles, labels, self.permutations)
        size = tf.shape(shuffled)
        flat = tf.reshape(shuffled, tf.concat([[batch * 9], size[2:]], axis=0))
        features = self.encoder(flat, training=training)
        logits = self.classifier(tf.reshape(features, [batch, 9 * self.feature_dim]),
                                 training=training)
        return _cross_entropy(labels, logits), {"embeddings": centred(features)}


class _Reconstruction(_Pretext):
    """An encoder-decoder trained with a masked or full L2 reconstruction."""

    def _build_decoder(self, channels):
        height, width = self.encoder.input_shape[1:3]
        if height is None or width is None:
            raise ValueError(f"{type(self).__name__} needs an encoder with a fixed input size "
                             "(the decoder rebuilds images of that size).")
        self.decoder = image_decoder(self.feature_dim, height, width, channels)
        return height, width


def _check_rgb(channels):
    if channels != 3:
        raise ValueError(
            f"Colorization needs RGB views (3 channels), got {channels} channel(s): "
            "grayscale images such as Fashion-MNIST have no colour to predict.")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Lightness(layers.Layer):
    """RGB images in [0, 1] ``[B, H, W, 3]`` -> their CIE Lab lightness
    ``L / 100`` ``[B, H, W, 1]`` (in [0, 1]): what Colorization's encoder reads.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.pretext import Lightness
    >>> Lightness()(np.ones((1, 2, 2, 3), "float32")).numpy().round(4).ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def call(self, images):
        _check_rgb(images.shape[-1])
        return pretext.rgb_to_lab(images)[..., :1] / 100.0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Colorization(_Reconstruction):
    """Colorization (after Zhang et al. 2016): predict an image's chroma from its lightness.

    RGB views are converted to CIE Lab
    (:func:`~keras_contrastive.views.pretext.rgb_to_lab`); the encoder sees
    ``L / 100`` (one channel: build it for ``(H, W, 1)`` inputs) and the
    decoder regresses ``(a, b) / 110`` with a mean squared error (the
    regression variant; the paper's classification over quantised ``ab``
    bins with class rebalancing is not implemented).  Grayscale (1-channel)
    views are refused: they carry no colour to predict.  An image's
    representation (:meth:`feature_extractor`, used by evaluation and
    export) takes RGB images and computes their lightness inside.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.Colorization(backbones.resnet18((32, 32, 1), width=4))
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> # model.fit(views)  # RGB views, 32x32x3
    """

    checks_view_size = False  # views are RGB, the encoder takes lightness

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        if self.encoder.input_shape[-1] != 1:
            raise ValueError("Colorization's encoder reads the lightness channel: build it for "
                             f"(H, W, 1) inputs, not {self.encoder.input_shape[1:]}.")
        self._build_decoder(2)
        self.built = True

    def check_views(self, dataset, steps_per_epoch=None):
        super().check_views(dataset, steps_per_epoch)
        if isinstance(dataset, tf.data.Dataset):
            _check_rgb(dataset.element_spec["global"][0].shape[-1])

    def feature_extractor(self, image_shape=None):
        """``keras.Model``: RGB images in [0, 1] -> the encoder's features of
        their lightness ``L / 100`` (:class:`Lightness`, then the encoder,
        sharing its weights): what the encoder was trained to read.

        ``image_shape`` is ``(H, W, 3)``; it defaults to the encoder's input
        size with 3 channels.
        """
        height, width = self.encoder.input_shape[1:3]
        shape = (height, width, 3) if image_shape is None else tuple(image_shape)
        if len(shape) != 3:
            raise ValueError(f"`image_shape` must be (height, width, 3), got "
                             f"image_shape={image_shape!r}.")
        _check_rgb(shape[-1])
        inputs = keras.Input(shape)
        features = self.encoder(Lightness(name="lightness")(inputs))
        return keras.Model(inputs, features, name=f"{self.encoder.name}_of_lightness")

    def compute_objective(self, views, training):
        images = self._images(views)
        _check_rgb(images.shape[-1])
        lab = pretext.rgb_to_lab(images)
        lightness, chroma = lab[..., :1] / 100.0, lab[..., 1:] / 110.0
        features = self.encoder(lightness, training=training)
        predicted = tf.cast(self.decoder(features, training=training), tf.float32)
        return tf.reduce_mean(tf.square(predicted - chroma)), {"embeddings": centred(features)}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Inpainting(_Reconstruction):
    """Context encoder (Pathak et al. 2016): fill in a masked region from its context.

    The central ``mask_fraction`` of each side (``region="center"``) or a
    random square of that size per image (``region="random"``) is set to
    ``fill``; the decoder reconstructs the image and the loss is the mean
    squared error over the masked pixels (the paper's L2 term; its
    adversarial term is not implemented).

    Args:
        encoder: images in [0, 1] of a fixed size (multiples of 4).
        mask_fraction: side of the masked square relative to the image (0.5).
        region: ``"center"`` or ``"random"``.
        fill: value of masked pixels (0.5, mid-grey).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.Inpainting(backbones.resnet18((28, 28, 1), width=4))
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> # model.fit(views)
    """

    config_fields = ("mask_fraction", "region", "fill")

    def __init__(self, encoder, mask_fraction=0.5, region="center", fill=0.5, **kwargs):
        super().__init__(encoder, **kwargs)
        if region not in ("center", "random"):
            raise ValueError(f"`region` must be 'center' or 'random', got {region!r}.")
        self.keep_config(locals())
        height, width = self._build_decoder(self.encoder.input_shape[-1])
        self.mask = pretext.central_mask(height, width, mask_fraction)
        self.side = int(np.count_nonzero(self.mask.numpy()[:, width // 2, 0]))
        self.built = True

    def masks(self, batch):
        """``[B, H, W, 1]`` masks (1 = hidden) for a batch."""
        if self.region == "center":
            return tf.tile(self.mask[None], [batch, 1, 1, 1])
        height, width = self.mask.shape[:2]
        side = self.side
        tops = tf.random.uniform([batch, 1], maxval=height - side + 1, dtype=tf.int32)
        lefts = tf.random.uniform([batch, 1], maxval=width - side + 1, dtype=tf.int32)
        rows = tf.range(height)[None]
        cols = tf.range(width)[None]
        inside_rows = tf.logical_and(rows >= tops, rows < tops + side)  # [B, H]
        inside_cols = tf.logical_and(cols >= lefts, cols < lefts + side)  # [B, W]
        inside = tf.logical_and(inside_rows[:, :, None], inside_cols[:, None, :])
        return tf.cast(inside, tf.float32)[..., None]

    def compute_objective(self, views, training):
        images = tf.cast(self._images(views), tf.float32)
        mask = self.masks(tf.shape(images)[0])
        hidden = images * (1.0 - mask) + self.fill * mask
        features = self.encoder(hidden, training=training)
        predicted = tf.cast(self.decoder(features, training=training), tf.float32)
        channels = tf.cast(tf.shape(images)[-1], tf.float32)
        error = tf.reduce_sum(tf.square(predicted - images) * mask) / (
            tf.reduce_sum(mask) * channels)
        return error, {"embeddings": centred(features)}


_PRETEXT_NOTE = ("ResNet-50 in place of the paper's AlexNet: linear figures are not "
                 "comparable with the paper's layer-wise ones")
register_method(MethodSpec(
    "rotation", RotationPrediction,
    Paper("RotNet", "Gidaris, Singh, Komodakis: Unsupervised Representation Learning by "
          "Predicting Image Rotations (ICLR 2018)",
          dict(batch_size=192, epochs=30, learning_rate=0.1, weight_decay=5e-4,
               crop_scale=(0.08, 1.0), jitter_strength=0.0, blur_prob=0.0),
          "38.7 % ImageNet linear top-1 on AlexNet's conv3 features",
          (_PRETEXT_NOTE, COSINE_NOTE))))
register_method(MethodSpec(
    "jigsaw", Jigsaw,
    Paper("Jigsaw", "Noroozi, Favaro: Unsupervised Learning of Visual Representations by "
          "Solving Jigsaw Puzzles (ECCV 2016)",
          dict(image_size=225, batch_size=256, epochs=70, learning_rate=0.01,
               weight_decay=5e-4, crop_scale=(0.08, 1.0), jitter_strength=0.0,
               blur_prob=0.0, model_options={"num_permutations": 1000}),
          "67.6 % mAP on PASCAL VOC 2007 classification (fine-tuned AlexNet)",
          (_PRETEXT_NOTE, "3x3 tiles of a 225 px image; 70 epochs ~ the paper's 350k "
                          "iterations at batch 256")),
    protocol=lambda config: dict(num_permutations=100),
    # the encoder reads 8x8 tiles: the run's backbone for any input size
    encoder_input=lambda shape: (None, None, shape[-1])))
register_method(MethodSpec(
    "colorization", Colorization,
    Paper("Colorization", "Zhang, Isola, Efros: Colorful Image Colorization (ECCV 2016)",
          dict(batch_size=40, epochs=15, optimizer="adam",
               learning_rate=3e-5, crop_scale=(0.08, 1.0), jitter_strength=0.0,
               blur_prob=0.0),
          "65.9 % mAP on PASCAL VOC 2007 classification (fine-tuned)",
          ("regression of the ab channels (the paper classifies 313 ab bins with class "
           "rebalancing)", "ResNet-50 in place of the paper's VGG-style network")),
    # the quality protocol's data in colour (RGB only: grey has no ab channels)
    cpu_small_data="fashion_mnist_tinted",
    # the encoder reads the lightness channel
    encoder_input=lambda shape: tuple(shape[:2]) + (1,)))
register_method(MethodSpec(
    "inpainting", Inpainting,
    Paper("Context encoder", "Pathak, Krahenbuhl, Donahue, Darrell, Efros: Context Encoders: "
          "Feature Learning by Inpainting (CVPR 2016)",
          dict(image_size=128, batch_size=64, epochs=100, optimizer="adam",
               learning_rate=2e-4, crop_scale=(0.08, 1.0), jitter_strength=0.0,
               blur_prob=0.0, model_options={"region": "random", "mask_fraction": 0.5}),
          "56.5 % mAP on PASCAL VOC 2007 classification (fine-tuned AlexNet)",
          ("a reconstruction loss only (the paper adds an adversarial term, weight 0.001)",
           "square masks at random positions (the paper's best: random regions of any shape)",
           _PRETEXT_NOTE))))
