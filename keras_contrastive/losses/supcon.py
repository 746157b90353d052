"""Supervised contrastive loss (Khosla et al. 2020) over the global batch."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core

_MASK = -1e9  # logit of an anchor's similarity with itself


@xla_core
def _supcon_terms(anchors, anchor_labels, candidates, candidate_labels, self_index, temperature):
    """Per-anchor losses: anchors ``[m, d]`` against all candidates ``[M, d]``."""
    is_self = tf.one_hot(self_index, tf.shape(candidates)[0], dtype=anchors.dtype)  # [m, M]
    logits = tf.matmul(anchors, candidates, transpose_b=True) / temperature + is_self * _MASK
    log_prob = logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)
    positive = tf.cast(tf.equal(anchor_labels[:, None], candidate_labels[None, :]),
                       anchors.dtype) * (1.0 - is_self)
    return -tf.reduce_sum(positive * log_prob, axis=1) / tf.reduce_sum(positive, axis=1)


def supcon(views, labels, temperature=0.1):
    """The supervised contrastive loss ``L_out`` of Khosla et al. (2020), eq. 2.

    The ``V`` views of the ``N`` labelled images of the global batch are
    l2-normalised; for each of the ``V * N`` anchors ``i``, ``P(i)`` holds
    every other view whose image has the same label (at least the other
    views of the same image), ``A(i)`` every view but ``i``:

        l_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i . z_p / T) / sum_{a in A(i)} exp(z_i . z_a / T) )

    and the loss is the mean of ``l_i`` over anchors (the official code's
    extra factor ``T / 0.07`` is left out, as in the paper).  Under a
    ``tf.distribute`` strategy each replica gathers all views and labels
    (differentiably), so positives and negatives come from the global batch;
    the value on each replica is the mean over its own anchors and the mean
    over replicas is the global loss.  With every label distinct it is
    SimCLR's NT-Xent.  XLA-compiled, in float32 (or float64).

    Args:
        views: a list of ``V >= 2`` view embeddings ``[n, d]``, row-aligned
            (this replica's part of the global batch).
        labels: integer class labels ``[n]``.
        temperature: softmax temperature ``T > 0`` (0.1 in the paper).

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import supcon
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(8, 16)).astype("float32")
    >>> labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    >>> float(supcon([z, z], labels)) < float(supcon([z, z[::-1]], labels))
    True
    """
    check_temperature(temperature)
    if len(views) < 2:
        raise ValueError(f"supcon needs at least 2 views, got {len(views)}.")
    views = [at_least_float32(v) for v in views]
    dtype = views[0].dtype
    labels = tf.reshape(tf.cast(tf.convert_to_tensor(labels), tf.int64), [-1])
    local = [tf.math.l2_normalize(tf.cast(v, dtype), axis=1) for v in views]
    n = tf.shape(local[0])[0]
    offset = distribute.global_offset(n)
    every = [distribute.all_gather(v) for v in local]
    big_n = tf.shape(every[0])[0]
    all_labels = distribute.all_gather(labels)
    # candidate index of view v of global example j: v * N + j
    self_index = tf.concat([v * big_n + offset + tf.range(n) for v in range(len(views))], axis=0)
    terms = _supcon_terms(tf.concat(local, 0), tf.tile(labels, [len(views)]),
                          tf.concat(every, 0), tf.tile(all_labels, [len(views)]),
                          self_index, tf.cast(temperature, dtype))
    return tf.reduce_mean(terms)
