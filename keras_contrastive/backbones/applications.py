"""Use any ``keras.applications`` (or other Keras) model as an encoder."""
import keras
from keras import layers


def as_encoder(model, preprocess=None, name=None):
    """Wraps a Keras model as an encoder of float images in [0, 1] -> ``[B, D]``.

    A model whose output is a feature map (``[B, H, W, C]``, e.g. a
    ``keras.applications`` model built with ``include_top=False``) gets a
    global average pool.  ``preprocess`` maps images in [0, 255] to what the
    model expects (e.g. ``keras.applications.resnet50.preprocess_input``);
    without it images are passed in [0, 1] unchanged.

    Args:
        model: a built ``keras.Model`` with one image input.
        preprocess: optional function of images in [0, 255].
        name: the encoder's name (default: the model's).

    Example:

    >>> import keras
    >>> from keras_contrastive.backbones import as_encoder
    >>> net = keras.applications.MobileNetV3Small(
    ...     input_shape=(32, 32, 3), include_top=False, weights=None,
    ...     include_preprocessing=False)
    >>> encoder = as_encoder(net)
    >>> len(encoder.output_shape)
    2
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
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if preprocess is not None:
        x = layers.Lambda(lambda t: preprocess(t * 255.0), name="preprocess")(x)
    x = model(x)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif len(x.shape) != 2:
        raise ValueError(f"`model` output must be [B, D] or [B, H, W, C], got {x.shape}.")
    return keras.Model(inputs, x, name=name or f"{model.name}_encoder")
