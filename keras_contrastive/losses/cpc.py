"""CPC's InfoNCE (van den Oord et al. 2018): a prediction scores its true patch against the batch's."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._numerics import at_least_float32, xla_core


@xla_core
def _cpc_terms(predictions, positive_index, candidates):
    logits = tf.matmul(predictions, candidates, transpose_b=True)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positive_index, logits=logits)


def cpc_nce(predictions, positive_index, candidates):
    """InfoNCE with the dot-product score ``f(z, c) = exp(z^T W_k c)`` of CPC.

    Each row ``m`` of ``predictions`` (already ``W_k c``) is scored by a dot
    product against every candidate patch vector of the global batch; the
    loss is the cross-entropy of the softmax over candidates with the true
    patch, ``candidates[positive_index[m]]``, as the class:

        l_m = -log( exp(p_m . z_pos) / sum_n exp(p_m . z_n) )

    averaged over the local predictions.  Under a ``tf.distribute`` strategy
    the candidates are gathered from every replica (differentiably) and
    ``positive_index`` indexes this replica's own candidates; it is offset to
    the gathered rows here.

    Args:
        predictions: ``[m, d]`` predicted patch vectors.
        positive_index: ``[m]`` int, each prediction's true patch among this
            replica's ``candidates``.
        candidates: ``[n, d]`` this replica's patch vectors.

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import cpc_nce
    >>> z = np.eye(4, dtype="float32") * 2  # scores 4 for the true patch, 0 for 3 others
    >>> round(float(cpc_nce(z, np.arange(4), z)), 4)  # log(1 + 3 exp(-4))
    0.0535
    """
    predictions = at_least_float32(predictions)
    candidates = tf.cast(candidates, predictions.dtype)
    offset = distribute.global_offset(tf.shape(candidates)[0])
    every = distribute.all_gather(candidates)
    index = tf.cast(positive_index, tf.int32) + offset
    return tf.reduce_mean(_cpc_terms(predictions, index, every))
