"""A small Vision Transformer (Dosovitskiy et al. 2021) with a CLS-token output, for DINO."""
import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="keras_contrastive")
class ClassTokenPositionEmbedding(keras.layers.Layer):
    """Patch grid ``[B, h, w, D]`` -> tokens ``[B, 1 + h*w, D]``: a learned CLS token
    first, learned position embeddings added.

    The position embeddings are learned for a ``grid x grid`` layout and
    resized bicubically when the input has another grid (DINO's smaller local
    crops), as DINO's ``interpolate_pos_encoding`` does; the CLS position is
    kept as is.

    Args:
        grid: patches per side of the training resolution.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones.vit import ClassTokenPositionEmbedding
    >>> layer = ClassTokenPositionEmbedding(grid=7)
    >>> layer(np.zeros((2, 7, 7, 16), "float32")).shape
    TensorShape([2, 50, 16])
    >>> layer(np.zeros((2, 3, 3, 16), "float32")).shape  # a local crop
    TensorShape([2, 10, 16])
    """

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = int(grid)

    def build(self, input_shape):
        dim = input_shape[-1]
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.cls_token = self.add_weight(shape=(1, 1, dim), initializer=init, name="cls_token")
        self.position = self.add_weight(shape=(1, 1 + self.grid * self.grid, dim),
                                        initializer=init, name="position")

    def call(self, patches):
        shape = tf.shape(patches)
        batch, h, w, dim = shape[0], shape[1], shape[2], shape[3]
        tokens = tf.reshape(patches, [batch, h * w, dim])
        position = tf.cast(self.position, tokens.dtype)
        grid_position = tf.reshape(position[:, 1:], [1, self.grid, self.grid, -1])
        grid_position = tf.cond(
            tf.logical_and(tf.equal(h, self.grid), tf.equal(w, self.grid)),
            lambda: grid_position,
            lambda: tf.cast(tf.image.resize(tf.cast(grid_position, tf.float32), [h, w],
                                            method="bicubic"), tokens.dtype))
        grid_position = tf.reshape(grid_position, [1, h * w, dim])
        cls = tf.cast(self.cls_token, tokens.dtype) + position[:, :1]
        return tf.concat([tf.tile(cls, [batch, 1, 1]), tokens + grid_position], axis=1)

    def compute_output_shape(self, input_shape):
        patches = (None if input_shape[1] is None or input_shape[2] is None
                   else 1 + input_shape[1] * input_shape[2])
        return (input_shape[0], patches, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class ClassTokenOutput(keras.layers.Layer):
    """Tokens ``[B, T, D]`` -> the CLS token's features ``[B, D]``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones.vit import ClassTokenOutput
    >>> ClassTokenOutput()(np.arange(12, dtype="float32").reshape(1, 3, 4)).numpy().tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """

    def call(self, tokens):
        return tokens[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def _block(x, dim, num_heads, mlp_ratio, index):
    name = f"block{index}"
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = layers.MultiHeadAttention(num_heads, dim // num_heads, name=f"{name}_attention")(y, y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Dense(dim * mlp_ratio, activation="gelu", name=f"{name}_mlp1")(y)
    y = layers.Dense(dim, name=f"{name}_mlp2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


def vit(input_shape, patch_size=4, dim=192, depth=12, num_heads=3, mlp_ratio=4, name="vit"):
    """A ViT encoder: patches -> CLS token + positions -> ``depth`` pre-norm
    Transformer blocks -> LayerNorm -> the CLS token's ``dim`` features.

    Inputs are float images in [0, 1], ``[B, H, W, C]``; the spatial size may be
    left ``None`` (multi-crop: local crops of another size get resized
    position embeddings) but ``input_shape``'s own size sets the learned grid.

    Args:
        input_shape: ``(H, W, C)`` of the global views; ``H`` and ``W`` must
            be multiples of ``patch_size``.
        patch_size: side of the square patches (16 on ImageNet, 4 on 28x28).
        dim, depth, num_heads, mlp_ratio: the Transformer's size.
        name: the model's name.

    Example:

    >>> from keras_contrastive import backbones
    >>> encoder = backbones.vit((28, 28, 1), patch_size=7, dim=32, depth=2, num_heads=2)
    >>> encoder.output_shape
    (None, 32)
    """
    height, width, channels = input_shape
    if height % patch_size or width % patch_size or height != width:
        raise ValueError(f"vit: input {height}x{width} must be square and a multiple of "
                         f"patch_size={patch_size}.")
    if dim % num_heads:
        raise ValueError(f"vit: dim={dim} must be a multiple of num_heads={num_heads}.")
    inputs = keras.Input((None, None, channels))
    x = layers.Rescaling(2.0, offset=-1.0, name="rescale")(inputs)  # [0, 1] -> [-1, 1]
    x = layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embedding")(x)
    x = ClassTokenPositionEmbedding(height // patch_size, name="tokens")(x)
    for index in range(depth):
        x = _block(x, dim, num_heads, mlp_ratio, index)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    return keras.Model(inputs, ClassTokenOutput(name="cls")(x), name=name)


def vit_tiny(input_shape, patch_size=4, **kwargs):
    """ViT-Tiny (DeiT-Ti: 192 wide, 12 blocks, 3 heads) with a CLS output; see :func:`vit`.

    Example:

    >>> from keras_contrastive import backbones
    >>> backbones.vit_tiny((32, 32, 3), patch_size=8).output_shape
    (None, 192)
    """
    return vit(input_shape, patch_size=patch_size, **{"dim": 192, "depth": 12, "num_heads": 3,
                                                      **kwargs}, name="vit_tiny")
