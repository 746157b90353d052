"""SwAV (Caron et al. 2020): Sinkhorn-Knopp codes and the swapped prediction loss."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_sinkhorn, check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core


def sinkhorn(scores, epsilon=0.05, iterations=3):
    """SwAV's codes: an equipartition of the global batch over the prototypes.

    ``scores`` are the similarities ``[n, K]`` of this replica's ``n``
    examples to ``K`` prototypes.  With ``Q = exp(scores / epsilon)^T``
    (``K x B``, ``B`` the global batch), normalised to sum 1, each of the
    ``iterations`` Sinkhorn-Knopp steps rescales the rows (prototypes) to
    sum ``1/K`` over the global batch and then the columns (examples) to sum
    ``1/B``, exactly as the official ``distributed_sinkhorn``; the codes are
    ``B * Q^T``: every row sums to 1, and with enough iterations every
    prototype receives ``B/K`` of the mass.  Under a ``tf.distribute``
    strategy each replica gathers every replica's scores (``[B, K]``, in
    replica order), solves the global problem in one XLA-compiled function
    and returns its own rows.  Every normalisation is a log-sum-exp, so
    small ``epsilon`` cannot overflow.  No gradient flows through the codes.

    Args:
        scores: ``[n, K]`` prototype scores (cosine similarities in SwAV).
        epsilon: the entropic regularisation (0.05 in the paper).
        iterations: Sinkhorn-Knopp iterations (3 in the paper).

    Returns:
        The codes ``[n, K]``, float32 (or float64).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import sinkhorn
    >>> scores = np.random.default_rng(0).uniform(-1, 1, size=(6, 3)).astype("float32")
    >>> codes = sinkhorn(scores)
    >>> np.allclose(codes.numpy().sum(axis=1), 1.0)
    True
    """
    check_sinkhorn(epsilon, iterations)
    scores = tf.stop_gradient(at_least_float32(scores))
    every = distribute.all_gather(scores)
    codes = _sinkhorn(every, tf.cast(epsilon, scores.dtype), iterations)
    start = distribute.global_offset(tf.shape(scores)[0])
    return codes[start:start + tf.shape(scores)[0]]


@xla_core
def _sinkhorn(scores, epsilon, iterations):
    """Codes ``[B, K]`` of the global batch's scores; every normalisation a log-sum-exp."""
    log_q = scores / epsilon  # log Q^T
    log_k = tf.math.log(tf.cast(tf.shape(log_q)[1], log_q.dtype))
    log_b = tf.math.log(tf.cast(tf.shape(log_q)[0], log_q.dtype))
    log_q -= tf.reduce_logsumexp(log_q)
    for _ in tf.range(iterations):  # a loop in the compiled graph, not `iterations` copies
        log_q -= tf.reduce_logsumexp(log_q, axis=0, keepdims=True) + log_k  # prototypes: 1/K each
        log_q -= tf.reduce_logsumexp(log_q, axis=1, keepdims=True) + log_b  # examples: 1/B
    return tf.exp(log_q + log_b)


def swapped_prediction(scores, codes, temperature=0.1):
    """SwAV's swapped prediction loss.

    For each assigned view ``i`` (a key of ``codes``) and every other view
    ``v`` of ``scores``, the cross-entropy between the code ``q_i`` and the
    softmax of ``scores_v / temperature``, averaged over the batch, over the
    ``V - 1`` other views and over the assigned views:

        L = 1/|A| sum_{i in A} 1/(V-1) sum_{v != i} mean_b [ -sum_k q_i[b,k] log softmax(s_v[b] / T)_k ]

    The mean over replicas is the loss of the global batch.  XLA-compiled.

    Args:
        scores: list of ``V`` view scores ``[n, K]`` (global crops first).
        codes: dict ``{view index: codes [n, K]}`` (from :func:`sinkhorn`).
        temperature: softmax temperature (0.1 in the paper).

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import sinkhorn, swapped_prediction
    >>> rng = np.random.default_rng(0)
    >>> s1, s2 = (rng.uniform(-1, 1, size=(8, 4)).astype("float32") for _ in range(2))
    >>> loss = swapped_prediction([s1, s2], {0: sinkhorn(s1), 1: sinkhorn(s2)})
    """
    check_temperature(temperature)
    if len(scores) < 2 or not codes:
        raise ValueError("swapped_prediction needs at least 2 views and 1 assigned view.")
    scores = [at_least_float32(s) for s in scores]
    dtype = scores[0].dtype
    codes = {i: tf.stop_gradient(tf.cast(q, dtype)) for i, q in codes.items()}
    return _swapped_prediction(scores, codes, tf.cast(temperature, dtype))


@xla_core
def _swapped_prediction(scores, codes, temperature):
    log_p = [tf.nn.log_softmax(s / temperature, axis=1) for s in scores]
    total = 0.0
    for i, q in codes.items():
        terms = [tf.reduce_mean(-tf.reduce_sum(q * log_p[v], axis=1))
                 for v in range(len(scores)) if v != i]
        total += tf.add_n(terms) / float(len(terms))
    return total / float(len(codes))
