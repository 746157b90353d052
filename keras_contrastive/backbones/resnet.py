"""ResNet encoders (He et al. 2016) with a CIFAR or ImageNet stem and a width knob."""
import keras
from keras import layers

from keras_contrastive import layers as kc_layers

_STEMS = ("cifar", "imagenet")


def _batch_norm(synchronized_bn, name, zero_init=False):
    return kc_layers.batch_normalization(
        synchronized_bn,
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer="zeros" if zero_init else "ones",
        name=name,
    )


def _conv(filters, kernel_size, strides, name):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "normal"),
        name=name,
    )


def _projection_shortcut(x, filters, strides, name, sync):
    """The 1x1 projection of a block's input, strided when the block downsamples.

    A 1x1 convolution of stride 2 with 'same' padding reads every second pixel,
    so it is written as that subsampling (a 1x1 max-pool of stride 2, no
    weights) followed by a 1x1 convolution of stride 1: the same function and
    weights, a different kernel: TensorFlow 2.21's oneDNN filter gradient of the
    strided form crashes the process for narrow layers at odd batch sizes
    (docs/ARCHITECTURE.md, "Downsampling shortcuts").
    """
    if strides != 1:
        x = layers.MaxPooling2D(1, strides=strides, padding="same",
                                name=f"{name}_down_subsample")(x)
    shortcut = _conv(filters, 1, 1, f"{name}_down_conv")(x)
    return _batch_norm(sync, f"{name}_down_bn")(shortcut)


def _basic_block(x, filters, strides, name, sync, zero_init):
    shortcut = x
    y = _conv(filters, 3, strides, f"{name}_conv1")(x)
    y = _batch_norm(sync, f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = _batch_norm(sync, f"{name}_bn2", zero_init)(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _projection_shortcut(x, filters, strides, name, sync)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def _bottleneck_block(x, filters, strides, name, sync, zero_init):
    shortcut = x
    y = _conv(filters, 1, 1, f"{name}_conv1")(x)
    y = _batch_norm(sync, f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, strides, f"{name}_conv2")(y)
    y = _batch_norm(sync, f"{name}_bn2")(y)
    y = layers.ReLU(name=f"{name}_relu2")(y)
    y = _conv(4 * filters, 1, 1, f"{name}_conv3")(y)
    y = _batch_norm(sync, f"{name}_bn3", zero_init)(y)
    if strides != 1 or x.shape[-1] != 4 * filters:
        shortcut = _projection_shortcut(x, 4 * filters, strides, name, sync)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def _check(input_shape, width, stem):
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            "`input_shape` must be (height, width, channels), "
            f"got input_shape={tuple(input_shape)!r}."
        )
    if not isinstance(width, int) or width <= 0:
        raise ValueError(f"`width` must be a positive integer, got width={width!r}.")
    if stem not in _STEMS:
        raise ValueError(f"`stem` must be one of {_STEMS}, got stem={stem!r}.")


def resnet(
    block,
    blocks_per_stage,
    input_shape,
    width=64,
    stem="cifar",
    synchronized_bn=False,
    zero_init_residual=False,
    name="resnet",
):
    """Builds a ResNet encoder mapping float images to pooled features.

    Args:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50+).
        blocks_per_stage: number of blocks in each of the four stages.
        input_shape: ``(height, width, channels)`` of the float images in [0, 1].
        width: channels of the first stage; stages use ``width * (1, 2, 4, 8)``
            (64 is the standard ResNet).
        stem: ``"cifar"`` (3x3 conv, stride 1, no max-pool: for 32 px images
            and smaller) or ``"imagenet"`` (7x7 conv stride 2 + 3x3 max-pool).
        synchronized_bn: use batch statistics of the global batch under a
            ``tf.distribute`` strategy (two-pass ``layers.GlobalBatchNormalization``).
        zero_init_residual: start each residual branch's last BN at gamma=0.
        name: the model's name.

    Returns:
        A functional ``keras.Model`` from ``[B, *input_shape]`` to ``[B, D]``.

    Example:

    >>> from keras_contrastive.backbones import resnet
    >>> resnet34 = resnet("basic", [3, 4, 6, 3], (32, 32, 3), width=8, name="resnet34")
    >>> resnet34.output_shape
    (None, 64)
    """
    _check(input_shape, width, stem)
    block_fn = {"basic": _basic_block, "bottleneck": _bottleneck_block}[block]
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    if stem == "cifar":
        x = _conv(width, 3, 1, "stem_conv")(inputs)
        x = _batch_norm(synchronized_bn, "stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
    else:
        x = _conv(width, 7, 2, "stem_conv")(inputs)
        x = _batch_norm(synchronized_bn, "stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, num_blocks in enumerate(blocks_per_stage):
        filters = width * 2**stage
        for index in range(num_blocks):
            strides = 2 if stage > 0 and index == 0 else 1
            x = block_fn(
                x, filters, strides, f"stage{stage + 1}_block{index + 1}",
                synchronized_bn, zero_init_residual,
            )
    outputs = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet18(input_shape, width=64, stem="cifar", synchronized_bn=False, zero_init_residual=False):
    """ResNet-18 encoder (BasicBlock, [2, 2, 2, 2]); features have ``8 * width`` dims.

    Example:

    >>> from keras_contrastive import backbones
    >>> encoder = backbones.resnet18((28, 28, 1), width=16, stem="cifar")
    >>> encoder.output_shape
    (None, 128)
    """
    return resnet("basic", (2, 2, 2, 2), input_shape, width, stem,
                  synchronized_bn, zero_init_residual, name="resnet18")


def resnet50(input_shape, width=64, stem="imagenet", synchronized_bn=False, zero_init_residual=False):
    """ResNet-50 encoder (Bottleneck, [3, 4, 6, 3]); features have ``32 * width`` dims.

    Example:

    >>> from keras_contrastive import backbones
    >>> encoder = backbones.resnet50((64, 64, 3), width=8)
    >>> encoder.output_shape
    (None, 256)
    """
    return resnet("bottleneck", (3, 4, 6, 3), input_shape, width, stem,
                  synchronized_bn, zero_init_residual, name="resnet50")
