"""Contrastive Predictive Coding for images (van den Oord et al. 2018; Henaff et al. 2020)."""
import keras
import tensorflow as tf
from keras import layers

from keras_contrastive._checks import is_positive_int
from keras_contrastive.models.base import check_arguments
from keras_contrastive.losses.cpc import cpc_nce
from keras_contrastive.models.base import ContrastiveModel, centred
from keras_contrastive.models.registry import MethodSpec, Paper, register_method


def _image_shape(shape):
    """``shape`` as a tuple of three positive Python ints, or a ValueError.

    NumPy integers pass (an exported input shape may carry them); ``None``
    and booleans do not: the patch grid needs the full image size.
    """
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    if len(dims) != 3 or not all(is_positive_int(d) for d in dims):
        raise ValueError("`image_shape` must be (height, width, channels) of positive "
                         f"integers, got {shape!r}.")
    return tuple(int(d) for d in dims)


def patch_grid(images, grid, patch_size):
    """Overlapping patches ``[B, grid, grid, P, P, C]`` at stride ``P // 2``, centred.

    The guide's layout: a 256-px image, 64-px patches at stride 32 -> 7x7.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.cpc import patch_grid
    >>> patch_grid(np.zeros((2, 28, 28, 1), "float32"), grid=7, patch_size=6).shape
    TensorShape([2, 7, 7, 6, 6, 1])
    """
    images = tf.convert_to_tensor(images)
    stride = patch_size // 2
    span = (grid - 1) * stride + patch_size
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    if span > min(height, width):
        raise ValueError(f"a {grid}x{grid} grid of {patch_size}-px patches at stride {stride} "
                         f"spans {span} px, more than the {height}x{width} images.")
    top, left = (height - span) // 2, (width - span) // 2
    region = images[:, top:top + span, left:left + span]
    patches = tf.image.extract_patches(region, [1, patch_size, patch_size, 1],
                                       [1, stride, stride, 1], [1, 1, 1, 1], "VALID")
    return tf.reshape(patches, [-1, grid, grid, patch_size, patch_size, channels])


@keras.saving.register_keras_serializable(package="keras_contrastive")
class PatchGrid(layers.Layer):
    """Images ``[B, H, W, C]`` -> their :func:`patch_grid` patches as a batch
    ``[B * grid * grid, P, P, C]`` (row-major per image), for a patch encoder.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.cpc import PatchGrid
    >>> PatchGrid(grid=7, patch_size=6)(np.zeros((2, 28, 28, 1), "float32")).shape
    TensorShape([98, 6, 6, 1])
    """

    def __init__(self, grid, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.grid, self.patch_size = int(grid), int(patch_size)

    def call(self, images):
        patches = patch_grid(images, self.grid, self.patch_size)
        return tf.reshape(patches, [-1, self.patch_size, self.patch_size, patches.shape[-1]])

    def compute_output_shape(self, input_shape):
        return (None, self.patch_size, self.patch_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid": self.grid, "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class GridMeanPool(layers.Layer):
    """Patch vectors ``[B * grid * grid, D]`` -> their mean per image ``[B, D]``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.cpc import GridMeanPool
    >>> GridMeanPool(grid=2)(np.arange(16, dtype="float32").reshape(8, 2)).numpy().tolist()
    [[3.0, 4.0], [11.0, 12.0]]
    """

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = int(grid)

    def call(self, z):
        return tf.reduce_mean(tf.reshape(z, [-1, self.grid * self.grid, z.shape[-1]]), axis=1)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}


def _default_patch_size(image_size, grid):
    """Patches of twice the stride covering the image: ``2 * size // (grid + 1)``."""
    return 2 * (image_size // (grid + 1))


@keras.saving.register_keras_serializable(package="keras_contrastive")
class CPC(ContrastiveModel):
    """CPC: from the patches above, predict the representations of the rows below.

    Each image (the first global view) is cut into a ``grid x grid`` grid of
    overlapping patches (:func:`patch_grid`), each encoded by ``encoder``
    (the patch encoder: it must take ``P x P`` inputs) to ``z[row, col]``.
    An autoregressive context network reads each column top-down, so that
    ``c[row, col]`` depends only on rows ``<= row``: a GRU
    (``context="gru"``) or a stack of causal convolutions
    (``context="masked_conv"``, padded above only, PixelCNN-style).  For
    each of ``k = 1..prediction_steps`` a linear map ``W_k`` predicts
    ``z[row + k, col]`` from ``c[row, col]``, scored against every patch of
    the global batch by :func:`keras_contrastive.losses.cpc_nce`; the loss is
    the mean over ``k``.

    An image's representation is the mean of its grid of patch vectors (the
    paper's linear evaluation): :meth:`feature_extractor` builds that model,
    and evaluation and export use it, not the bare patch encoder.

    Args:
        encoder: the patch encoder (``(P, P, C)`` or ``(None, None, C)`` inputs).
        grid: patches per side (7 in the guide).
        patch_size: ``P`` (default ``2 * image_size // (grid + 1)``, set at the first batch).
        prediction_steps: how many rows ahead to predict.
        context: ``"gru"`` or ``"masked_conv"``.
        context_dim: width of the context network.
        image_shape: ``(H, W, C)`` of the images :meth:`feature_extractor`
            cuts (default: the training views' shape, recorded at the first
            batch and saved with the model).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.CPC(backbones.resnet18((None, None, 1), width=4), grid=7,
    ...                    patch_size=6, prediction_steps=2)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> # model.fit(views)  # 28x28 views -> 7x7 patches of 6x6
    """

    config_fields = ("grid", "patch_size", "prediction_steps", "context", "context_dim",
                     "image_shape")
    checks_view_size = False  # the encoder sees patches

    def __init__(self, encoder, grid=7, patch_size=None, prediction_steps=3, context="gru",
                 context_dim=None, image_shape=None, **kwargs):
        super().__init__(encoder, **kwargs)
        if context not in ("gru", "masked_conv"):
            raise ValueError(f"`context` must be 'gru' or 'masked_conv', got {context!r}.")
        grid, prediction_steps = check_arguments(
            {"grid": grid, "prediction_steps": prediction_steps}).values()
        if not 1 <= prediction_steps < grid:
            raise ValueError(f"`prediction_steps` must be an integer in [1, grid), got "
                             f"{prediction_steps!r}.")
        context_dim = context_dim or self.feature_dim
        if image_shape is not None:
            image_shape = _image_shape(image_shape)
        self.keep_config(locals())  # image_shape: for feature_extractor(), set at the first batch
        dim = self.feature_dim
        if context == "gru":
            self.context_network = keras.Sequential(
                [layers.GRU(context_dim, return_sequences=True, name="gru")], name="context")
            self.context_network.build((None, grid, dim))
        else:
            self.context_network = keras.Sequential([
                layers.ZeroPadding2D(((2, 0), (1, 1))),
                layers.Conv2D(context_dim, 3, activation="relu", name="causal1"),
                layers.ZeroPadding2D(((2, 0), (1, 1))),
                layers.Conv2D(context_dim, 3, name="causal2"),
            ], name="context")
            self.context_network.build((None, grid, grid, dim))
        self.predictors = []
        for k in range(1, prediction_steps + 1):
            predictor = layers.Dense(dim, use_bias=False, name=f"predict_{k}")
            predictor.build((None, context_dim))
            self.predictors.append(predictor)
        self.built = True

    def feature_extractor(self, image_shape=None):
        """``keras.Model``: images ``image_shape`` -> the mean of their
        ``grid x grid`` patch vectors (shares the encoder's weights).

        ``image_shape`` defaults to the model's ``image_shape``: the
        training views' shape, known after the first batch and saved with
        the model.
        """
        try:
            shape = _image_shape(image_shape if image_shape is not None else self.image_shape)
        except ValueError:
            raise ValueError(
                "CPC's image features are the mean of its patch grid, so they need the image "
                "size: pass image_shape=(height, width, channels) of positive integers (got "
                f"{image_shape!r}; export_encoder: input_shape=...); it defaults to the "
                "training images' shape once the model has trained, or to "
                "CPC(image_shape=...).") from None
        patch_size = self.patch_size or _default_patch_size(shape[0], self.grid)
        inputs = keras.Input(shape)
        patches = PatchGrid(self.grid, patch_size, name="patch_grid")(inputs)
        features = GridMeanPool(self.grid, name="grid_mean")(self.encoder(patches))
        return keras.Model(inputs, features, name=f"{self.encoder.name}_grid_mean")

    def contexts(self, z, training=False):
        """``c [B, G, G, context_dim]`` from ``z [B, G, G, D]``, causal in rows."""
        if self.context == "masked_conv":
            return self.context_network(z, training=training)
        columns = tf.reshape(tf.transpose(z, [0, 2, 1, 3]), [-1, self.grid, z.shape[-1]])
        c = self.context_network(columns, training=training)  # [B*G, rows, H]
        return tf.transpose(tf.reshape(c, [-1, self.grid, self.grid, self.context_dim]),
                            [0, 2, 1, 3])

    def compute_objective(self, views, training):
        images = views["global"][0]
        shape = tuple(images.shape[1:])  # a TensorShape or a NumPy shape
        if self.image_shape is None and all(isinstance(d, int) for d in shape):
            self.image_shape = tuple(int(d) for d in shape)
        patch_size = self.patch_size or _default_patch_size(images.shape[1], self.grid)
        patches = patch_grid(images, self.grid, patch_size)
        batch, g = tf.shape(patches)[0], self.grid
        flat = tf.reshape(patches, tf.concat([[batch * g * g], tf.shape(patches)[3:]], axis=0))
        z = self.encoder(flat, training=training)  # [B*G*G, D], row-major per image
        grid_z = tf.reshape(z, [batch, g, g, self.feature_dim])
        c = self.contexts(grid_z, training=training)
        index = tf.reshape(tf.range(batch * g * g), [batch, g, g])
        losses = []
        for k, predictor in enumerate(self.predictors, start=1):
            predicted = predictor(tf.reshape(c[:, :g - k], [-1, self.context_dim]))
            positive = tf.reshape(index[:, k:], [-1])  # the patch k rows below
            losses.append(cpc_nce(predicted, positive, z))
        return tf.add_n(losses) / float(len(losses)), {"embeddings": centred(z)}


register_method(MethodSpec(
    "cpc", CPC,
    Paper("CPC", "van den Oord, Li, Vinyals: Representation Learning with Contrastive "
          "Predictive Coding (arXiv 2018)",
          dict(image_size=256, batch_size=512, epochs=100, optimizer="adam",
               learning_rate=2e-4, crop_scale=(0.5, 1.0), blur_prob=0.0,
               model_options={"grid": 7, "prediction_steps": 5, "context": "masked_conv"}),
          "48.7 % linear top-1 (ResNet-v2-101 patch encoder)",
          ("ResNet-50 patch encoder in place of the paper's ResNet-v2-101",
           "7x7 grid of 64-px patches with 32-px overlap on 256 px images, as in the paper")),
    # 7x7 patches of 6 px at stride 3 on 28x28, the run's backbone as the patch encoder
    protocol=lambda config: dict(grid=7, prediction_steps=2),
    # the unnormalised dot-product scores: under the shared SGD its loss rose
    # from 44 to 126 in the second epoch; the paper trains with Adam at 2e-4
    optimizer={"optimizer": "adam", "base_learning_rate": 2e-4},
    encoder_input=lambda shape: (None, None, shape[-1])))
