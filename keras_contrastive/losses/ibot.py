"""iBOT (Zhou et al. 2022): masked patch self-distillation, cross-entropy between the
teacher's centred, sharpened patch outputs and the student's on the masked patches."""
import tensorflow as tf

from keras_contrastive._checks import check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core


def ibot_patch_loss(student_patches, teacher_patches, masks, center, student_temperature=0.1,
                    teacher_temperature=0.04):
    """iBOT's masked-image-modelling term, as the official ``iBOTLoss`` (its ``loss2``).

    For each global view ``v`` the teacher, which saw the whole image, gives
    ``P_t = softmax((t - center) / teacher_temperature)`` for every patch (no
    gradient), the student, which saw the view with the patches of
    ``masks[v]`` replaced by a mask token, gives
    ``log P_s = log_softmax(s / student_temperature)``; the image's term is
    the cross-entropy ``-sum_k P_t log P_s`` averaged over its masked patches
    (``sum(mask * ce) / max(sum(mask), 1)``), and the loss is the mean over
    images and over views.  The mean over replicas is the global batch's
    loss.  XLA-compiled, in float32 (or float64).

    Args:
        student_patches: list of ``V`` arrays ``[n, N, K]`` (patch outputs of the
            masked views).
        teacher_patches: list of ``V`` arrays ``[n, N, K]`` (the same views, unmasked).
        masks: list of ``V`` boolean arrays ``[n, N]`` (True: masked for the student).
        center: ``[K]``, the running mean of the teacher's patch outputs.
        student_temperature: 0.1 in the paper.
        teacher_temperature: 0.04 to 0.07 (warmed up in the paper).

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import ibot_patch_loss
    >>> rng = np.random.default_rng(0)
    >>> s, t = [rng.normal(size=(2, 4, 8)).astype("float32") for _ in range(2)]
    >>> float(ibot_patch_loss([s], [t], [rng.random((2, 4)) < 0.5], np.zeros(8, "float32"))) > 0
    True
    """
    check_temperature(student_temperature, "student_temperature")
    check_temperature(teacher_temperature, "teacher_temperature")
    if not len(student_patches) == len(teacher_patches) == len(masks) >= 1:
        raise ValueError("ibot_patch_loss needs one teacher output and one mask per student "
                         f"view, got {len(student_patches)} student, {len(teacher_patches)} "
                         f"teacher and {len(masks)} masks.")
    dtype = at_least_float32(student_patches[0]).dtype
    return _ibot([tf.cast(s, dtype) for s in student_patches],
                 [tf.cast(t, dtype) for t in teacher_patches],
                 [tf.cast(m, dtype) for m in masks], tf.cast(center, dtype),
                 tf.cast(student_temperature, dtype), tf.cast(teacher_temperature, dtype))


@xla_core
def _ibot(student_patches, teacher_patches, masks, center, student_temperature,
          teacher_temperature):
    terms = []
    for s, t, mask in zip(student_patches, teacher_patches, masks):
        q = tf.stop_gradient(tf.nn.softmax((t - center) / teacher_temperature, axis=-1))
        ce = -tf.reduce_sum(q * tf.nn.log_softmax(s / student_temperature, axis=-1), axis=-1)
        per_image = (tf.reduce_sum(ce * mask, axis=-1)
                     / tf.maximum(tf.reduce_sum(mask, axis=-1), 1.0))
        terms.append(tf.reduce_mean(per_image))
    return tf.add_n(terms) / float(len(terms))
