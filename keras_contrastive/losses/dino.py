"""DINO (Caron et al. 2021): cross-entropy between a centred, sharpened teacher and the student."""
import tensorflow as tf

from keras_contrastive._checks import check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core


def dino(student_logits, teacher_logits, center, student_temperature=0.1,
         teacher_temperature=0.04):
    """DINO's loss, as the official ``DINOLoss``.

    The teacher's outputs of the global views are centred and sharpened,
    ``P_t = softmax((t - center) / teacher_temperature)`` (no gradient), the
    student's outputs of every view give
    ``log P_s = log_softmax(s / student_temperature)``, and the loss is the
    cross-entropy ``-sum_k P_t log P_s`` averaged over the batch and over
    every pair (teacher view ``i``, student view ``v``) with ``v != i``
    (student views are ordered global views first, so view ``i`` of both is
    the same crop).  The mean over replicas is the global batch's loss.
    XLA-compiled, in float32 (or float64).

    Args:
        student_logits: list of ``V`` arrays ``[n, K]`` (global views, then local).
        teacher_logits: list of ``G <= V`` arrays ``[n, K]`` (the global views).
        center: ``[K]``, the running mean of the teacher's outputs.
        student_temperature: 0.1 in the paper.
        teacher_temperature: 0.04 to 0.07 (warmed up in the paper).

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import dino
    >>> rng = np.random.default_rng(0)
    >>> s = [rng.normal(size=(4, 8)).astype("float32") for _ in range(3)]
    >>> t = [rng.normal(size=(4, 8)).astype("float32") for _ in range(2)]
    >>> float(dino(s, t, np.zeros(8, "float32"))) > 0
    True
    """
    check_temperature(student_temperature, "student_temperature")
    check_temperature(teacher_temperature, "teacher_temperature")
    if len(teacher_logits) < 1 or len(student_logits) < 2:
        raise ValueError("dino needs at least 1 teacher view and 2 student views.")
    dtype = at_least_float32(student_logits[0]).dtype
    return _dino([tf.cast(s, dtype) for s in student_logits],
                 [tf.cast(t, dtype) for t in teacher_logits], tf.cast(center, dtype),
                 tf.cast(student_temperature, dtype), tf.cast(teacher_temperature, dtype))


@xla_core
def _dino(student_logits, teacher_logits, center, student_temperature, teacher_temperature):
    teacher = [tf.stop_gradient(tf.nn.softmax((t - center) / teacher_temperature, axis=-1))
               for t in teacher_logits]
    student = [tf.nn.log_softmax(s / student_temperature, axis=-1) for s in student_logits]
    terms = [tf.reduce_mean(-tf.reduce_sum(q * student[v], axis=-1))
             for i, q in enumerate(teacher) for v in range(len(student)) if v != i]
    return tf.add_n(terms) / float(len(terms))
