"""Encoders speak two shapes: pooled features ``[B, D]`` and spatial features.

Every encoder of the library maps float32 images ``[B, H, W, C]`` in [0, 1]
to pooled features ``[B, D]``.  A dense or masked method also needs the
features before pooling; :func:`spatial_encoder` gives them, for any encoder
whose pooling is one of its layers:

* a convolutional encoder (``resnet``, ``resnet18``, ``resnet50``,
  ``small_cnn``, a ``keras.applications`` or keras-hub ResNet wrapped by
  ``as_encoder``, any functional/Sequential model with a
  ``GlobalAveragePooling2D``/``GlobalMaxPooling2D`` layer) gives its
  **feature map** ``[B, h, w, D]``: the input of its last global pooling layer;
* a token encoder (``vit``, ``vit_tiny``, a keras-hub ViT or DINOv2 wrapped by
  ``as_encoder``) gives its **patch tokens** ``[B, N, D]`` with ``N = h * w``
  in row-major order: the tokens after the final LayerNorm, without the CLS
  token (and without DINOv2's register tokens).

The spatial model shares the encoder's layers and weights (no copy): training
either trains both.  :func:`spatial_layout` says which of the two shapes an
encoder gives and on which grid, so a method can handle both with one code
path.  A masked method that runs a ViT on a subset of its patches uses
``backbones.vit_stages`` (the patch embedding and the Transformer as two
models).
"""
import dataclasses

import keras

from keras_contrastive.backbones.vit import (
    ClassTokenOutput, ClassTokenPositionEmbedding, PatchTokens)

_MAP_POOLING = {keras.layers.GlobalAveragePooling2D: "mean", keras.layers.GlobalMaxPooling2D: "max"}
_TOKEN_POOLING = {ClassTokenOutput: "class_token", keras.layers.GlobalAveragePooling1D: "mean"}
_KINDS = ("feature_map", "tokens")


@dataclasses.dataclass(frozen=True)
class SpatialLayout:
    """What :func:`spatial_encoder` of an encoder returns, and how the encoder pools it.

    Attributes:
        kind: ``"feature_map"`` (``[B, h, w, D]``) or ``"tokens"``
            (``[B, N, D]``, ``N = h * w`` patches in row-major order, no CLS token).
        grid: ``(h, w)`` for the images the layout was asked about, or
            ``None`` when their size is not known.
        dim: ``D``, the features of each position.
        pooling: how the encoder's pooled output comes from the spatial
            features: ``"mean"`` or ``"max"`` over the positions (when the
            pooling is the encoder's last layer), ``"class_token"`` (a ViT's
            output is its CLS token, which is not among the patch tokens), or
            ``"other"`` (layers follow the pooling, e.g. a Dense head).

    Example:

    >>> from keras_contrastive import backbones
    >>> backbones.spatial_layout(backbones.resnet18((32, 32, 3), width=4))
    SpatialLayout(kind='feature_map', grid=(4, 4), dim=32, pooling='mean')
    """

    kind: str
    grid: tuple | None
    dim: int
    pooling: str

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"`kind` must be one of {_KINDS}, got kind={self.kind!r}.")


def _final_pooling(encoder):
    """The encoder's last pooling layer (of a feature map or of tokens)."""
    layers = getattr(encoder, "layers", None)
    if not layers or not hasattr(encoder, "inputs"):
        raise ValueError(
            f"spatial features need a Keras functional or Sequential encoder; got "
            f"{type(encoder).__name__}. An exported SavedModel (export.load_encoder) has no "
            "feature map: load the .keras model saved by `pretrain --save-model` instead.")
    kinds = tuple(_MAP_POOLING) + tuple(_TOKEN_POOLING)
    pools = [layer for layer in layers if isinstance(layer, kinds)]
    if not pools and any(isinstance(layer, keras.layers.TFSMLayer) for layer in layers):
        raise ValueError(
            f"encoder {encoder.name!r} is an exported SavedModel (export.load_encoder), which has "
            "no feature map: load the .keras model saved by `pretrain --save-model` instead.")
    if not pools:
        raise ValueError(
            f"encoder {encoder.name!r} has no GlobalAveragePooling2D/GlobalMaxPooling2D layer "
            "(nor a ViT's ClassTokenOutput): spatial features need a convolutional encoder that "
            "ends in global pooling or a token encoder (backbones.vit, or a model wrapped by "
            "backbones.as_encoder).")
    return pools[-1]


def spatial_encoder(encoder):
    """The encoder before its pooling: images -> feature map ``[B, h, w, D]`` or
    patch tokens ``[B, N, D]`` (see the module docstring for which).

    The model shares the encoder's layers and weights (no copy), takes the
    same inputs and is built on every call (cheap: no weights are made).

    Args:
        encoder: a functional or Sequential encoder whose pooling is one of
            its layers (every backbone of the library, and ``as_encoder``'s).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: for an encoder without such a pooling layer (e.g. an
            exported SavedModel, or a Flatten + Dense head).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> images = np.zeros((2, 28, 28, 1), "float32")
    >>> backbones.spatial_encoder(backbones.small_cnn((28, 28, 1)))(images).shape
    TensorShape([2, 7, 7, 64])
    >>> vit = backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=1, num_heads=2)
    >>> backbones.spatial_encoder(vit)(images).shape  # 4x4 patch tokens, CLS dropped
    TensorShape([2, 16, 16])
    """
    pool = _final_pooling(encoder)
    if isinstance(pool, ClassTokenOutput):
        outputs = PatchTokens(pool.num_prefix_tokens, name=f"{pool.name}_patch_tokens")(pool.input)
    else:
        outputs = pool.input
    inputs = encoder.inputs[0] if len(encoder.inputs) == 1 else encoder.inputs
    return keras.Model(inputs, outputs, name=f"{encoder.name}_dense")


def _token_grid(count, height, width):
    """``(h, w)`` with ``h * w == count`` and ``h / w == height / width``, or None."""
    if None in (count, height, width):
        return None
    h = max(1, round((count * height / width) ** 0.5))
    return (h, count // h) if h * (count // h) == count else None


def spatial_layout(encoder, image_shape=None):
    """Says what :func:`spatial_encoder` of ``encoder`` returns: a :class:`SpatialLayout`.

    Args:
        encoder: as for :func:`spatial_encoder`.
        image_shape: ``(H, W, C)`` of the images the grid is wanted for.
            Default: the encoder's input shape; for a ``vit`` (whose input
            size is free) its training resolution.

    Example:

    >>> from keras_contrastive import backbones
    >>> vit = backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=1, num_heads=2)
    >>> backbones.spatial_layout(vit)
    SpatialLayout(kind='tokens', grid=(4, 4), dim=16, pooling='class_token')
    >>> backbones.spatial_layout(vit, image_shape=(14, 14, 1)).grid  # a local crop
    (2, 2)
    """
    pool = _final_pooling(encoder)
    spatial = spatial_encoder(encoder)
    kind = "feature_map" if len(spatial.output.shape) == 4 else "tokens"
    names = _MAP_POOLING if kind == "feature_map" else _TOKEN_POOLING
    pooling = names[type(pool)] if encoder.layers[-1] is pool else "other"
    if isinstance(pool, ClassTokenOutput):
        pooling = "class_token"
    if image_shape is None:
        image_shape = tuple(encoder.inputs[0].shape[1:])
        positions = [layer for layer in encoder.layers
                     if isinstance(layer, ClassTokenPositionEmbedding)]
        if None in image_shape[:2] and positions:
            return SpatialLayout(kind, (positions[-1].grid,) * 2, spatial.output.shape[-1], pooling)
    image_shape = tuple(image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"`image_shape` must be (height, width, channels), "
                         f"got image_shape={image_shape!r}.")
    grid = None
    if None not in image_shape:
        shape = spatial.compute_output_spec(keras.KerasTensor((1,) + image_shape)).shape
        grid = (tuple(shape[1:3]) if kind == "feature_map"
                else _token_grid(shape[1], *image_shape[:2]))
    return SpatialLayout(kind, grid, spatial.output.shape[-1], pooling)
