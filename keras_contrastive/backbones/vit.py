"""A small Vision Transformer (Dosovitskiy et al. 2021) with a CLS-token output, for DINO.

``backbones.spatial_encoder`` of a ViT gives its patch tokens (no CLS token);
``vit_stages`` splits it into the patch embedding and the Transformer, so a
masked method (MAE) can encode a subset of the patches.
"""
import dataclasses

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

    The tokens are ``num_prefix_tokens`` leading tokens (the CLS token first,
    then any register tokens, as in DINOv2) followed by the patch tokens;
    ``num_prefix_tokens`` does not change the output, it tells
    :func:`keras_contrastive.backbones.spatial_encoder` how many tokens to
    drop to get the patch tokens.

    Args:
        num_prefix_tokens: tokens before the patch tokens (>= 1; 1: the CLS token only).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones.vit import ClassTokenOutput
    >>> ClassTokenOutput()(np.arange(12, dtype="float32").reshape(1, 3, 4)).numpy().tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """

    def __init__(self, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 1:
            raise ValueError("`num_prefix_tokens` must be an integer >= 1, got "
                             f"num_prefix_tokens={num_prefix_tokens!r}.")
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, tokens):
        return tokens[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_prefix_tokens": self.num_prefix_tokens}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class PatchTokens(keras.layers.Layer):
    """Tokens ``[B, T, D]`` -> the patch tokens ``[B, T - num_prefix_tokens, D]``:
    the CLS (and register) tokens dropped, the patches kept in row-major order.

    Args:
        num_prefix_tokens: leading tokens to drop (0 keeps every token).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones.vit import PatchTokens
    >>> tokens = np.arange(12, dtype="float32").reshape(1, 3, 4)
    >>> PatchTokens(num_prefix_tokens=1)(tokens).numpy()[0, :, 0].tolist()
    [4.0, 8.0]
    """

    def __init__(self, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 0:
            raise ValueError("`num_prefix_tokens` must be an integer >= 0, got "
                             f"num_prefix_tokens={num_prefix_tokens!r}.")
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, tokens):
        return tokens[:, self.num_prefix_tokens:]

    def compute_output_shape(self, input_shape):
        count = input_shape[1]
        return (input_shape[0], None if count is None else count - self.num_prefix_tokens,
                input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_prefix_tokens": self.num_prefix_tokens}


def transformer_block(x, dim, num_heads, mlp_ratio, index):
    """One pre-norm Transformer block on tokens ``x`` ``[B, T, dim]`` (functional API):
    attention then MLP, each after a LayerNorm and around a residual; its layers
    are named ``block{index}_*`` (what :func:`vit_stages` finds).  The ViT's
    blocks, and MAE's decoder's.

    Example:

    >>> import keras
    >>> from keras_contrastive.backbones.vit import transformer_block
    >>> tokens = keras.Input((5, 16))
    >>> keras.Model(tokens, transformer_block(tokens, 16, 2, 4, index=0)).output_shape
    (None, 5, 16)
    """
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

    Its spatial features (``backbones.spatial_encoder``) are the patch tokens
    ``[B, h*w, dim]`` after the final LayerNorm, without the CLS token;
    ``vit_stages`` gives the patch embedding and the Transformer as two models.

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
        x = transformer_block(x, dim, num_heads, mlp_ratio, index)
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


def vit_micro(input_shape, patch_size=4, **kwargs):
    """A CPU-sized ViT (96 wide, 4 blocks, 3 heads; about 1/12 of ViT-Tiny's
    compute) with a CLS output, for trying a ViT method out on a laptop (the
    ``cpu_small`` preset of the masked methods); see :func:`vit`.

    Example:

    >>> from keras_contrastive import backbones
    >>> encoder = backbones.vit_micro((28, 28, 1))
    >>> encoder.output_shape, encoder.count_params() < 500_000
    ((None, 96), True)
    """
    return vit(input_shape, patch_size=patch_size, **{"dim": 96, "depth": 4, "num_heads": 3,
                                                      **kwargs}, name="vit_micro")


@dataclasses.dataclass(frozen=True)
class ViTStages:
    """The two stages of a :func:`vit` encoder, sharing its weights, for methods
    that run the Transformer on some of the tokens (MAE encodes the visible
    patches only; I-JEPA's context encoder a block of them).

    ``encoder(images)`` equals ``transformer(embed(images))[:, 0]``.  A masked
    method embeds the images, keeps the CLS token and the visible patch tokens
    (the positions are already added, so any subset in any order is fine),
    and runs ``transformer`` on them; its patch outputs are
    ``transformer(...)[:, num_prefix_tokens:]``.  A method that replaces
    masked patches by a learned mask token before the positions are added
    (iBOT, BEiT) calls the two halves of ``embed`` itself:
    ``position_embed(where(mask, mask_token, patch_embed(images)))``.

    Attributes:
        embed: ``keras.Model``: float images ``[B, H, W, C]`` in [0, 1] ->
            tokens ``[B, 1 + h*w, D]`` (the CLS token, then the patch tokens in
            row-major order, position embeddings added).
        patch_embed: ``keras.Model``: images -> the patch embeddings
            ``[B, h, w, D]`` (no positions, no CLS token).
        position_embed: the encoder's :class:`ClassTokenPositionEmbedding`
            layer: ``[B, h, w, D]`` -> ``[B, 1 + h*w, D]``;
            ``embed(x) == position_embed(patch_embed(x))``.
        transformer: ``keras.Model``: tokens ``[B, T, D]``, any ``T`` ->
            ``[B, T, D]`` (the Transformer blocks and the final LayerNorm).
        num_prefix_tokens: tokens before the patch tokens (1: the CLS token).
        grid: patches per side at the encoder's ``input_shape``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> encoder = backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=1, num_heads=2)
    >>> stages = backbones.vit_stages(encoder)
    >>> images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    >>> tokens = stages.embed(images).numpy()
    >>> tokens.shape
    (2, 17, 16)
    >>> visible = np.concatenate([tokens[:, :1], tokens[:, 1:][:, [0, 5, 9, 14]]], axis=1)
    >>> stages.transformer(visible).shape  # MAE: the CLS token and 4 visible patches
    TensorShape([2, 5, 16])
    >>> np.allclose(stages.transformer(tokens)[:, 0], encoder(images), atol=1e-5)
    True
    """

    embed: keras.Model
    patch_embed: keras.Model
    position_embed: keras.layers.Layer
    transformer: keras.Model
    num_prefix_tokens: int
    grid: int


def vit_stages(encoder):
    """Splits a :func:`vit` encoder into ``embed`` (images -> tokens) and
    ``transformer`` (tokens -> tokens), two models sharing its weights; see
    :class:`ViTStages`.

    Works on the encoder a :func:`vit` / :func:`vit_tiny` call returns and on
    the same model loaded from a ``.keras`` file.

    Args:
        encoder: a :func:`vit` encoder.

    Returns:
        A :class:`ViTStages`.

    Example:

    >>> from keras_contrastive import backbones
    >>> stages = backbones.vit_stages(backbones.vit((32, 32, 3), patch_size=8, dim=16, depth=2,
    ...                                             num_heads=2))
    >>> stages.embed.output_shape, stages.transformer.input_shape, stages.grid
    ((None, None, 16), (None, None, 16), 4)
    """
    names = {layer.name for layer in getattr(encoder, "layers", ())}
    if (not isinstance(encoder, keras.Model)
            or not {"patch_embedding", "tokens", "norm", "cls"} <= names):
        raise ValueError(
            "`encoder` must be a ViT built by keras_contrastive.backbones.vit (layers "
            "'patch_embedding', 'tokens', 'norm' and 'cls'), got "
            f"{getattr(encoder, 'name', encoder)!r}.")
    tokens = encoder.get_layer("tokens")
    embed = keras.Model(encoder.inputs[0], tokens.output, name=f"{encoder.name}_embed")
    dim = tokens.output.shape[-1]
    x = inputs = keras.Input((None, dim), name="tokens")
    index = 0
    while f"block{index}_norm1" in names:  # the blocks of `transformer_block`, called again: shared weights
        block = f"block{index}"
        y = encoder.get_layer(f"{block}_norm1")(x)
        y = encoder.get_layer(f"{block}_attention")(y, y)
        x = encoder.get_layer(f"{block}_add1")([x, y])
        y = encoder.get_layer(f"{block}_norm2")(x)
        y = encoder.get_layer(f"{block}_mlp2")(encoder.get_layer(f"{block}_mlp1")(y))
        x = encoder.get_layer(f"{block}_add2")([x, y])
        index += 1
    x = encoder.get_layer("norm")(x)
    transformer = keras.Model(inputs, x, name=f"{encoder.name}_transformer")
    patch_embed = keras.Model(encoder.inputs[0], encoder.get_layer("patch_embedding").output,
                              name=f"{encoder.name}_patch_embed")
    return ViTStages(embed=embed, patch_embed=patch_embed, position_embed=tokens,
                     transformer=transformer,
                     num_prefix_tokens=encoder.get_layer("cls").num_prefix_tokens,
                     grid=tokens.grid)
