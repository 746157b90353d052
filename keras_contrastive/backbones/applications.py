"""Use any Keras model as an encoder: ``keras.applications`` models and keras-hub
backbones (ViT, ResNet, DINOv2)."""
import keras
from keras import layers

from keras_contrastive.backbones.vit import ClassTokenOutput

_MAP_POOLING = (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)


def _patch_size(model):
    patch = getattr(model, "patch_size", None)
    if isinstance(patch, int):
        return (patch, patch)
    if isinstance(patch, (tuple, list)) and len(patch) == 2:
        return tuple(int(p) for p in patch)
    return None


def _prefix_tokens(model, tokens, input_shape):
    """How many of a token model's ``tokens`` output tokens precede its patch tokens."""
    patch = _patch_size(model)
    if patch is None or tokens is None or None in input_shape[:2]:
        raise ValueError(
            f"`model` {model.name!r} outputs tokens {tokens!r} per image and its patch grid is not "
            "known (no `patch_size` attribute, or a free input size): pass "
            "`num_prefix_tokens`, the number of tokens before the patch tokens (CLS, registers).")
    patches = (input_shape[0] // patch[0]) * (input_shape[1] // patch[1])
    if tokens < patches:
        raise ValueError(f"`model` {model.name!r} outputs {tokens} tokens, fewer than its "
                         f"{patches} patches.")
    return tokens - patches


def as_encoder(model, preprocess=None, name=None, num_prefix_tokens=None):
    """Wraps a Keras model as an encoder of float images in [0, 1] -> ``[B, D]``.

    The pooled features ``[B, D]`` come from the model's output:

    * a feature map ``[B, H, W, C]`` (a ``keras.applications`` model built
      with ``include_top=False``, a keras-hub ``ResNetBackbone``) gets a
      global average pool;
    * tokens ``[B, T, D]`` (a keras-hub ``ViTBackbone`` or ``DINOV2Backbone``)
      give their CLS token (``ClassTokenOutput``) when the model has one,
      else the mean of the tokens;
    * ``[B, D]`` is kept; a model that ends in its own global pooling
      (``keras.applications`` with ``pooling="avg"``) has that pooling moved
      into the encoder (same function, same weights), so that
      :func:`keras_contrastive.backbones.spatial_encoder` finds its feature map.

    ``preprocess`` maps images in [0, 255] to what the model expects (e.g.
    ``keras.applications.resnet50.preprocess_input``, or a keras-hub preset's
    image converter without resizing); without it images are passed in
    [0, 1] unchanged.  The wrapped model is a layer of the encoder: its
    weights are the encoder's.

    A keras-hub preset a user has downloaded is wrapped the same way as one
    built from its config (no network needed here)::

        import keras_hub
        backbone = keras_hub.models.Backbone.from_preset("dinov2_small")
        encoder = as_encoder(backbone)                # CLS token, [B, 384]
        tokens = spatial_encoder(encoder)             # patch tokens, no CLS/registers

    Args:
        model: a built ``keras.Model`` with one image input.
        preprocess: optional function of images in [0, 255].
        name: the encoder's name (default: the model's name + ``"_encoder"``).
        num_prefix_tokens: for a model whose output is tokens ``[B, T, D]``:
            how many tokens precede the patch tokens (CLS, then registers; 0:
            none, the pooled features are the mean of the tokens).  Default:
            ``T`` minus the patches of the model's ``patch_size`` attribute
            (keras-hub ViT and DINOv2 have one) at its input size.

    Example:

    >>> import keras
    >>> from keras_contrastive.backbones import as_encoder, spatial_encoder
    >>> net = keras.applications.MobileNetV3Small(
    ...     input_shape=(32, 32, 3), include_top=False, weights=None,
    ...     include_preprocessing=False)
    >>> encoder = as_encoder(net)
    >>> len(encoder.output_shape)
    2
    >>> spatial_encoder(encoder).output_shape
    (None, 1, 1, 576)
    """
    if not isinstance(model, keras.Model) or len(model.inputs) != 1:
        raise ValueError(
            f"`model` must be a built keras.Model with one image input, got {model!r}."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 3:
        raise ValueError(
            f"`model` must take images [B, H, W, C], its input shape is {input_shape}."
        )
    if num_prefix_tokens is not None and (not isinstance(num_prefix_tokens, int)
                                          or num_prefix_tokens < 0):
        raise ValueError("`num_prefix_tokens` must be an integer >= 0, got "
                         f"num_prefix_tokens={num_prefix_tokens!r}.")
    pool = None
    last = model.layers[-1] if getattr(model, "layers", None) else None
    if (len(model.output_shape) == 2 and isinstance(last, _MAP_POOLING)
            and len(last.input.shape) == 4 and not getattr(last, "keepdims", False)):
        # keras.applications' pooling="avg"/"max": the same model without its pooling
        pool = type(last)(name=last.name)
        model = keras.Model(model.inputs, last.input, name=model.name)
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if preprocess is not None:
        x = layers.Lambda(lambda t: preprocess(t * 255.0), name="preprocess")(x)
    x = model(x)
    if pool is not None:
        x = pool(x)
    elif len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif len(x.shape) == 3:
        prefix = (_prefix_tokens(model, x.shape[1], input_shape) if num_prefix_tokens is None
                  else num_prefix_tokens)
        x = (ClassTokenOutput(prefix, name="cls") if prefix else
             layers.GlobalAveragePooling1D(name="token_mean"))(x)
    elif len(x.shape) != 2:
        raise ValueError(f"`model` output must be [B, D], [B, T, D] or [B, H, W, C], "
                         f"got {x.shape}.")
    return keras.Model(inputs, x, name=name or f"{model.name}_encoder")
