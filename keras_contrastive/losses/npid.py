"""NPID's non-parametric softmax over a memory bank (Wu et al. 2018)."""
import tensorflow as tf

from keras_contrastive._checks import check_non_negative, check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core


@xla_core
def _npid_terms(features, indices, bank, temperature, proximal):
    """Per-image losses: features ``[n, d]`` against every entry of the bank ``[N, d]``."""
    logits = tf.matmul(features, bank, transpose_b=True) / temperature
    memory = tf.gather(bank, indices)
    positive = tf.reduce_sum(features * memory, axis=1) / temperature
    terms = tf.reduce_logsumexp(logits, axis=1) - positive
    return terms + proximal * tf.reduce_sum(tf.square(features - memory), axis=1)


def npid(features, indices, bank, temperature=0.07, proximal=0.0):
    """The non-parametric softmax of NPID (Wu et al. 2018, eq. 2), with its
    proximal regularisation (Sec. 3.4) optional.

    Image ``i``'s feature ``v = f_i`` (l2-normalised) is classified among
    the ``N`` training images, each represented by its entry ``v_j`` of the
    memory bank (l2-normalised, no gradient):

        P(i | v) = exp(v_i . v / T) / sum_j exp(v_j . v / T)
        l_i = -log P(i | f_i) + lambda * ||f_i - v_i||^2

    and the loss is the mean of ``l_i`` over the batch.  The positive is the
    bank's entry of image ``i`` (its feature from the earlier visits), not
    the current feature: the memory, not another view, is the target.  The
    full softmax over the bank replaces the paper's NCE approximation (exact
    at Fashion-MNIST scale: 60,000 x 128).  Every replica holds the whole
    bank, so the value on each replica is the mean over its own images and
    needs no gather; the bank's update is the model's (``MemoryBank.update``,
    after the step).  Log-sum-exp in at least float32, XLA-compiled.

    Args:
        features: ``[n, d]`` features of this replica's images (gradients flow).
        indices: ``[n]`` each image's entry in ``bank`` (its index in the data set).
        bank: ``[N, d]`` memory bank (gradients stopped).
        temperature: ``T > 0`` (0.07 in the paper).
        proximal: ``lambda >= 0``, the weight of the proximal term (0: off).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import npid
    >>> bank = np.eye(4, dtype="float32")
    >>> features = np.array([[1., 0., 0., 0.], [0., 1., 0., 0.]], "float32")
    >>> float(npid(features, [0, 1], bank)) < float(npid(features, [1, 0], bank))
    True
    """
    check_temperature(temperature)
    check_non_negative(proximal=proximal)
    features = tf.math.l2_normalize(at_least_float32(features), axis=1)
    bank = tf.math.l2_normalize(tf.stop_gradient(tf.cast(bank, features.dtype)), axis=1)
    indices = tf.reshape(tf.cast(indices, tf.int64), [-1])
    return tf.reduce_mean(_npid_terms(features, indices, bank,
                                      tf.cast(temperature, features.dtype),
                                      tf.cast(proximal, features.dtype)))
