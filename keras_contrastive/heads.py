"""Projection and prediction heads: MLPs on top of the encoder's features."""
import keras
from keras import layers

from keras_contrastive import layers as kc_layers
from keras_contrastive._checks import (
    check_number, check_parameter_count, dense_parameters, is_positive_int)


def projection_head(
    hidden_dims,
    output_dim,
    batch_norm=True,
    synchronized_bn=False,
    last_batch_norm=False,
    input_dim=None,
    name="projection_head",
):
    """An MLP ``[Dense -> BN -> ReLU] * len(hidden_dims) -> Dense``.

    SimCLR uses one hidden layer of the feature width and a 128-d output;
    MoCo v2 2048-128; SimSiam / BYOL / MoCo v3 add a BN on the output
    (``last_batch_norm=True``, without affine parameters).

    Args:
        hidden_dims: sizes of the hidden layers (an int for one layer).
        output_dim: size of the output.
        batch_norm: put a BatchNormalization after each hidden Dense (whose
            bias is then dropped).
        synchronized_bn: BN statistics over the global batch under a strategy.
        last_batch_norm: BN (no scale/centre) on the output.
        input_dim: build the head for inputs of this size right away.
        name: the head's name.

    Returns:
        A ``keras.Sequential``.

    Dimensions are positive integers (NumPy integers too); a head of more than
    ``_checks.MAX_PARAMETERS`` (2**31) parameters, or of more float32
    bytes than the host's available memory, is refused before it is built.

    Example:

    >>> from keras_contrastive.heads import projection_head
    >>> head = projection_head([512], 128, input_dim=512)
    >>> head.output_shape
    (None, 128)
    """
    hidden_dims = list(hidden_dims) if isinstance(hidden_dims, (list, tuple)) else [hidden_dims]
    for dim in hidden_dims + [output_dim] + ([] if input_dim is None else [input_dim]):
        if not is_positive_int(dim):
            raise ValueError(
                "projection dims must be positive integers, got "
                f"hidden_dims={hidden_dims!r}, output_dim={output_dim!r}"
                + ("." if input_dim is None else f", input_dim={input_dim!r}.")
            )
    hidden_dims, output_dim = [int(dim) for dim in hidden_dims], int(output_dim)
    sizes = ([] if input_dim is None else [int(input_dim)]) + hidden_dims + [output_dim]
    check_parameter_count(f"{name} (hidden_dims={hidden_dims}, output_dim={output_dim}, "
                          f"input_dim={input_dim})", dense_parameters(sizes))
    stack = []
    for index, dim in enumerate(hidden_dims):
        stack.append(layers.Dense(dim, use_bias=not batch_norm, name=f"dense{index}"))
        if batch_norm:
            stack.append(kc_layers.batch_normalization(
                synchronized_bn, epsilon=1e-5, name=f"bn{index}"))
        stack.append(layers.ReLU(name=f"relu{index}"))
    stack.append(layers.Dense(output_dim, use_bias=not last_batch_norm, name="output"))
    if last_batch_norm:
        stack.append(kc_layers.batch_normalization(
            synchronized_bn, center=False, scale=False, epsilon=1e-5,
            name="output_bn"))
    head = keras.Sequential(stack, name=name)
    if input_dim is not None:
        head.build((None, input_dim))
    return head


def prediction_head(hidden_dim, output_dim, synchronized_bn=False):
    """The predictor of BYOL, SimSiam, MoCo v3 and NNCLR: ``Dense -> BN -> ReLU -> Dense``
    from ``output_dim`` back to ``output_dim`` (built), named ``"predictor"``.

    Example:

    >>> from keras_contrastive.heads import prediction_head
    >>> prediction_head(512, 128).output_shape
    (None, 128)
    """
    return projection_head([hidden_dim], output_dim, synchronized_bn=synchronized_bn,
                           input_dim=output_dim, name="predictor")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class NormalizedDense(keras.layers.Layer):
    """A bias-free ``Dense`` whose kernel columns are used l2-normalised:
    ``x @ (V / ||V||_col)``, the weight-normalised last layer of DINO's head
    with its gain fixed to 1 (``norm_last_layer=True``).

    Args:
        units: output size.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.heads import NormalizedDense
    >>> layer = NormalizedDense(4)
    >>> out = layer(np.ones((2, 8), "float32"))
    >>> bool(np.all(np.abs(out.numpy()) <= np.sqrt(8) + 1e-5))  # |x . v| <= |x|
    True
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_number("units", units, low=1, integer=True)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x):
        kernel = keras.ops.cast(self.kernel, x.dtype)
        norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(kernel), axis=0, keepdims=True))
        return keras.ops.matmul(x, kernel / keras.ops.maximum(norm, 1e-12))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def dino_head(input_dim, out_dim=65536, hidden_dim=2048, bottleneck_dim=256, num_layers=3,
              use_bn=False, name="dino_head", synchronized_bn=False):
    """DINO's projection head: an MLP with GELU (``num_layers`` Dense layers,
    the last to ``bottleneck_dim``), l2 normalisation, then a
    :class:`NormalizedDense` to ``out_dim`` logits (built).  ``use_bn`` puts a
    BatchNormalization before each GELU (the official ``--use_bn_in_head``,
    which CNN backbones need on small data); ``synchronized_bn`` takes its
    statistics over the global batch under a strategy.  Sizes are checked as in
    :func:`projection_head` (positive integers, at most 2**31 parameters).

    Example:

    >>> from keras_contrastive.heads import dino_head
    >>> dino_head(192, out_dim=1024, hidden_dim=256, bottleneck_dim=64).output_shape
    (None, 1024)
    """
    num_layers = check_number("num_layers", num_layers, low=1, integer=True)
    for argument, dim in (("out_dim", out_dim), ("hidden_dim", hidden_dim),
                          ("bottleneck_dim", bottleneck_dim), ("input_dim", input_dim)):
        if not is_positive_int(dim):
            raise ValueError(f"DINO head dims must be positive integers, got {argument}={dim!r}.")
    input_dim, out_dim, hidden_dim, bottleneck_dim = (
        int(input_dim), int(out_dim), int(hidden_dim), int(bottleneck_dim))
    sizes = [input_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim, out_dim]
    check_parameter_count(f"{name} (input_dim={input_dim}, hidden_dim={hidden_dim}, "
                          f"bottleneck_dim={bottleneck_dim}, out_dim={out_dim})",
                          dense_parameters(sizes))
    stack = []
    for index in range(num_layers - 1):
        stack.append(layers.Dense(hidden_dim, name=f"dense{index}"))
        if use_bn:
            stack.append(kc_layers.batch_normalization(
                synchronized_bn, epsilon=1e-5, name=f"bn{index}"))
        stack.append(layers.Activation("gelu", name=f"gelu{index}"))
    stack += [layers.Dense(bottleneck_dim, name="bottleneck"),
              layers.UnitNormalization(axis=-1, name="l2_normalize"),
              NormalizedDense(out_dim, name="last_layer")]
    head = keras.Sequential(stack, name=name)
    head.build((None, input_dim))
    return head
