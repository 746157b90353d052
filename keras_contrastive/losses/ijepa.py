"""I-JEPA's loss: L2 between predicted and target patch representations (Assran et al. 2023)."""
import tensorflow as tf

from keras_contrastive._numerics import at_least_float32, xla_core


@xla_core
def _representation_error(predictions, targets, normalize_targets):
    if normalize_targets:  # F.layer_norm(h, (D,)): no affine, biased variance, eps 1e-5
        mean = tf.reduce_mean(targets, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.square(targets - mean), axis=-1, keepdims=True)
        targets = (targets - mean) / tf.sqrt(var + 1e-5)
    return tf.reduce_mean(tf.square(predictions - targets))


def ijepa_loss(predictions, targets, normalize_targets=True):
    """I-JEPA's loss (Assran et al. 2023, Sec. 3 "Loss"): the average L2
    distance between the predictor's patch representations and the target
    encoder's, over the ``M`` target blocks and their patches,

        l = 1/M sum_i 1/|B_i| sum_{j in B_i} ||s^_j - s_j||^2 / D,

    averaged over the images: every block of a batch has the same ``T``
    patches (the paper's collator), so it is the mean squared error over all
    of ``[B, M, T, D]`` (the per-dimension mean, as PyTorch's ``mse_loss``).
    With ``normalize_targets`` each target patch representation is
    layer-normalised first (no affine, ``eps=1e-5``: the official code's
    ``F.layer_norm`` of the target encoder's output).  The targets get no
    gradient.  The value on each replica is the mean over its images, the
    global batch's mean (equal counts), no gather needed.  At least float32,
    XLA-compiled.

    Args:
        predictions: ``[B, M, T, D]`` the predictor's outputs (gradients flow);
            any shape ``[..., D]`` works.
        targets: the target encoder's representations of the same patches,
            ``predictions``' shape.
        normalize_targets: layer-normalise the targets (the paper's code).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import ijepa_loss
    >>> targets = np.random.default_rng(0).normal(size=(2, 4, 3, 8)).astype("float32")
    >>> float(ijepa_loss(targets, targets, normalize_targets=False))
    0.0
    >>> round(float(ijepa_loss(np.zeros_like(targets), targets)), 4)  # layer-normed: unit variance
    1.0
    """
    predictions = at_least_float32(predictions)
    targets = tf.stop_gradient(tf.cast(targets, predictions.dtype))
    return _representation_error(predictions, targets, bool(normalize_targets))
