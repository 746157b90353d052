"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR."""
import keras
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core


_MASK = -1e9  # logit given to an anchor's similarity with itself


@xla_core
def _nt_xent_terms(z_a, z_b, all_a, all_b, offset, temperature):
    """Per-anchor NT-Xent terms for local anchors against global candidates.

    Args:
        z_a, z_b: l2-normalised local embeddings, ``[n, d]``.
        all_a, all_b: l2-normalised global embeddings, ``[N, d]``; rows
            ``offset .. offset+n`` are ``z_a`` / ``z_b``.
        offset: index of the first local example in the global batch.
        temperature: the softmax temperature.

    Returns:
        ``[2n]`` losses, anchors of view a first.
    """
    n = tf.shape(z_a)[0]
    big_n = tf.shape(all_a)[0]
    self_mask = tf.one_hot(tf.range(n) + offset, big_n, dtype=z_a.dtype) * _MASK
    candidates = tf.concat([all_a, all_b], axis=0)  # [2N, d]
    logits_a = tf.matmul(z_a, candidates, transpose_b=True) / temperature
    logits_b = tf.matmul(z_b, candidates, transpose_b=True) / temperature
    zeros = tf.zeros_like(self_mask)
    logits_a += tf.concat([self_mask, zeros], axis=1)  # a_i vs itself
    logits_b += tf.concat([zeros, self_mask], axis=1)  # b_i vs itself
    positive = tf.reduce_sum(z_a * z_b, axis=1) / temperature
    loss_a = tf.reduce_logsumexp(logits_a, axis=1) - positive
    loss_b = tf.reduce_logsumexp(logits_b, axis=1) - positive
    return tf.concat([loss_a, loss_b], axis=0)


def nt_xent(z_a, z_b, temperature=0.5):
    """SimCLR's NT-Xent loss over the global batch.

    The ``2N`` views of the global batch (``N`` examples, two views each) are
    l2-normalised; view ``i``'s positive is the other view ``j`` of the same
    example, and every other view of the global batch is a negative:

        l_i = -log( exp(z_i . z_j / T) / sum_{a != i} exp(z_i . z_a / T) )

    with the sum over the other ``2N - 1`` views (one positive, ``2N - 2``
    negatives).  The loss is the mean of ``l_i`` over the ``2N`` anchors
    (symmetric in the two views).  Under a ``tf.distribute`` strategy each
    replica gathers the embeddings of all replicas (differentiably), so the
    negatives are those of the global batch and the value returned on each
    replica is the mean over its own ``2n`` anchors; the mean over replicas
    is the global loss.  Softmax terms use the log-sum-exp trick and at least
    float32 (float16/bfloat16 inputs are upcast), so low temperatures do not
    overflow under mixed precision.  The
    arithmetic runs in an XLA-compiled function.

    Args:
        z_a: embeddings of the first view, ``[n, d]`` (this replica's part).
        z_b: embeddings of the second view, ``[n, d]``, row-aligned with z_a.
        temperature: softmax temperature ``T > 0``.

    Returns:
        A float32 scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import nt_xent
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(nt_xent(z, z, temperature=0.5)) < float(nt_xent(z, z[::-1], 0.5))
    True
    """
    check_temperature(temperature)
    z_a = tf.math.l2_normalize(at_least_float32(z_a), axis=1)
    z_b = tf.math.l2_normalize(tf.cast(z_b, z_a.dtype), axis=1)
    dtype = z_a.dtype
    all_a = distribute.all_gather(z_a)
    all_b = distribute.all_gather(z_b)
    offset = distribute.global_offset(tf.shape(z_a)[0])
    terms = _nt_xent_terms(
        z_a, z_b, all_a, all_b, offset, tf.cast(temperature, dtype)
    )
    return tf.reduce_mean(terms)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class NTXent(keras.losses.Loss):
    """NT-Xent as a Keras ``Loss``: ``y_true`` is ignored, ``y_pred`` holds both views.

    ``y_pred`` is ``[2n, d]``: the first ``n`` rows are view a, the last
    ``n`` rows view b (row ``i`` and ``n + i`` are the same example).  See
    :func:`nt_xent` for the formula.

    Args:
        temperature: softmax temperature ``T > 0``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import NTXent
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> loss = NTXent(temperature=0.1)(None, z)
    """

    def __init__(self, temperature=0.5, name="nt_xent", **kwargs):
        temperature = check_temperature(temperature)
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        z_a, z_b = tf.split(y_pred, 2, axis=0)
        return nt_xent(z_a, z_b, self.temperature)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # The loss is already a mean over anchors; no per-sample reduction.
        return self.call(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "temperature": self.temperature}
