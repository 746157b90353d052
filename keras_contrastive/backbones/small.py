"""A small CNN encoder for quick experiments, examples and tests."""
import keras

_POOLING = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}


def small_cnn(input_shape, filters=(16, 32, 64), strides=(1, 2, 2), batch_norm=True,
              pooling="avg", synchronized_bn=False, name="small_cnn"):
    """3x3 convolutions then global pooling: features have ``filters[-1]`` dims.

    Each block is conv (no bias) - BatchNorm - ReLU with ``batch_norm``, or
    conv (with bias) + ReLU without.  The default (16, 32, 64 channels,
    strides 1, 2, 2) costs about a quarter of a width-8 ResNet-18's step on
    28x28 images; it is the encoder of the library's learning tests.

    Args:
        input_shape: ``(H, W, C)``.
        filters: channels of each convolution.
        strides: stride of each convolution (as many as ``filters``).
        batch_norm: BatchNormalization after each convolution.
        pooling: ``"avg"`` (GlobalAveragePooling2D) or ``"max"``.
        synchronized_bn: batch statistics over the global batch under a
            strategy of several replicas (Keras' ``synchronized`` batch norm).
        name: the model's name.

    Example:

    >>> from keras_contrastive import backbones
    >>> backbones.small_cnn((28, 28, 1)).output_shape
    (None, 64)
    >>> backbones.small_cnn((32, 32, 1), filters=(16, 32), strides=(1, 2), batch_norm=False,
    ...                     pooling="max").output_shape
    (None, 32)
    """
    if len(filters) != len(strides) or not filters:
        raise ValueError(f"`filters` and `strides` must be non-empty and of the same length, "
                         f"got filters={filters!r}, strides={strides!r}.")
    if pooling not in _POOLING:
        raise ValueError(f"`pooling` must be one of {sorted(_POOLING)}, got {pooling!r}.")
    x = inputs = keras.Input(input_shape)
    for width, stride in zip(filters, strides):
        if batch_norm:
            x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(x)
            x = keras.layers.ReLU()(
                keras.layers.BatchNormalization(synchronized=synchronized_bn)(x))
        else:
            x = keras.layers.Conv2D(width, 3, strides=stride, padding="same",
                                    activation="relu")(x)
    return keras.Model(inputs, _POOLING[pooling]()(x), name=name)
