"""Feature distillation: a student's predictions regress a frozen teacher's features."""
import tensorflow as tf

from keras_contrastive._numerics import at_least_float32, xla_core

#: the distances :func:`feature_distillation` knows
DISTILLATION_DISTANCES = ("cosine", "smooth_l1")


def feature_distillation(predictions, teacher_features, distance="cosine", beta=1.0):
    """Mean distance from the student's ``predictions`` ``[B, D]`` to the teacher's
    l2-normalised ``teacher_features`` ``[B, D]`` (no gradient to the teacher).

    * ``"cosine"``: ``1 - cos(p, t)`` averaged over the batch (0 when aligned, 2 when
      opposite; the scale of ``p`` is free).
    * ``"smooth_l1"``: PyTorch's ``smooth_l1_loss(p, t / ||t||, beta)`` with its mean
      reduction: per element ``0.5 d**2 / beta`` where ``|d| < beta``, else
      ``|d| - 0.5 beta``, averaged over the batch and the dimensions (the prediction
      itself is not normalised: it must match the unit-norm target's scale).

    Args:
        predictions: the student head's output ``[B, D]``.
        teacher_features: the teacher's features for the same images ``[B, D]``.
        distance: ``"cosine"`` or ``"smooth_l1"``.
        beta: the smooth-L1 threshold (> 0).

    Returns:
        A scalar float32 loss (its arithmetic XLA-compiled).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import feature_distillation
    >>> t = np.array([[3.0, 4.0], [1.0, 0.0]], "float32")
    >>> round(float(feature_distillation(t * 2, t)), 6)  # same direction: 0
    0.0
    >>> round(float(feature_distillation(-t, t)), 6)  # opposite: 2
    2.0
    >>> round(float(feature_distillation(t / 5, t, "smooth_l1")), 4)  # 2nd row: t/5 vs t/1
    0.08
    """
    if distance not in DISTILLATION_DISTANCES:
        raise ValueError(f"`distance` must be one of {DISTILLATION_DISTANCES}, "
                         f"got distance={distance!r}.")
    if not beta > 0:
        raise ValueError(f"`beta` must be > 0, got beta={beta!r}.")
    p = at_least_float32(predictions)
    t = tf.stop_gradient(at_least_float32(teacher_features))
    if distance == "cosine":
        return _cosine_core(p, t)
    return _smooth_l1_core(p, t, tf.constant(beta, p.dtype))


@xla_core
def _cosine_core(p, t):
    t = tf.math.l2_normalize(t, axis=1)
    return tf.reduce_mean(1.0 - tf.reduce_sum(tf.math.l2_normalize(p, axis=1) * t, axis=1))


@xla_core
def _smooth_l1_core(p, t, beta):
    d = tf.abs(p - tf.math.l2_normalize(t, axis=1))
    return tf.reduce_mean(tf.where(d < beta, 0.5 * tf.square(d) / beta, d - 0.5 * beta))
