"""InfoNCE against explicit negatives (MoCo family) and negative cosine similarity (BYOL/SimSiam)."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_number, check_temperature
from keras_contrastive._numerics import at_least_float32, xla_core

_MASK = -1e9  # logit of an excluded negative


_float = at_least_float32


@xla_core
def _info_nce_terms(query, positive_key, negatives, negatives_mask, temperature):
    positive = tf.reduce_sum(query * positive_key, axis=1, keepdims=True) / temperature
    negative = tf.matmul(query, negatives, transpose_b=True) / temperature
    negative = tf.where(negatives_mask, negative, tf.cast(_MASK, negative.dtype))
    logits = tf.concat([positive, negative], axis=1)
    return tf.reduce_logsumexp(logits, axis=1) - positive[:, 0]


def info_nce(query, positive_key, negatives, temperature=0.2, negatives_mask=None):
    """InfoNCE with the positive at index 0 (MoCo, Oord et al. 2018).

    All vectors are l2-normalised inside. For query ``q_i`` with positive key
    ``k_i`` and negatives ``n_1 .. n_K``:

        l_i = -log( exp(q_i . k_i / T) / (exp(q_i . k_i / T) + sum_n exp(q_i . n / T)) )

    and the loss is the mean of ``l_i`` over the queries.  Gradients flow
    into every argument: stop them at the caller (MoCo's keys come from a
    momentum encoder).  Log-sum-exp in at least float32, XLA-compiled.

    Args:
        query: ``[n, d]`` queries.
        positive_key: ``[n, d]`` keys, row ``i`` the positive of query ``i``.
        negatives: ``[K, d]`` negatives shared by all queries (a queue, or
            the keys of the global batch).
        temperature: softmax temperature ``T > 0``.
        negatives_mask: optional boolean ``[n, K]``; ``False`` removes a
            negative from query ``i``'s denominator (e.g. its own key when
            the negatives are the batch's keys).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import info_nce
    >>> rng = np.random.default_rng(0)
    >>> q = rng.normal(size=(4, 8)).astype("float32")
    >>> queue = rng.normal(size=(16, 8)).astype("float32")
    >>> float(info_nce(q, q, queue, 0.2)) < float(info_nce(q, -q, queue, 0.2))
    True
    """
    check_temperature(temperature)
    query = tf.math.l2_normalize(_float(query), axis=1)
    positive_key = tf.math.l2_normalize(tf.cast(positive_key, query.dtype), axis=1)
    negatives = tf.math.l2_normalize(tf.cast(negatives, query.dtype), axis=1)
    if negatives_mask is None:
        negatives_mask = tf.ones([tf.shape(query)[0], tf.shape(negatives)[0]], tf.bool)
    terms = _info_nce_terms(query, positive_key, negatives, tf.cast(negatives_mask, tf.bool),
                            tf.cast(temperature, query.dtype))
    return tf.reduce_mean(terms)


def batch_info_nce(query, keys, temperature=0.2):
    """InfoNCE whose negatives are the other keys of the **global** batch (MoCo v3, NNCLR).

    Query ``q_i`` (this replica's row ``i``) has positive ``k_i`` and
    negatives ``k_j``, ``j != i``, over all replicas' keys:

        l_i = -log( exp(q_i . k_i / T) / sum_j exp(q_i . k_j / T) )

    i.e. cross-entropy of ``q . K^T / T`` with the label at ``i``'s global
    index (MoCo v3's ``contrastive_loss`` before its ``2T`` factor).

    Args:
        query: ``[n, d]`` queries.
        keys: ``[n, d]`` keys, row ``i`` the positive of query ``i``; all
            replicas' keys (gathered in replica order) are the candidates.
        temperature: ``T > 0``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import batch_info_nce
    >>> q = np.eye(4, dtype="float32")
    >>> round(float(batch_info_nce(q, q, temperature=1.0)), 4)  # -log(e / (e + 3))
    0.7437
    """
    n = tf.shape(query)[0]
    own = tf.one_hot(tf.range(n) + distribute.global_offset(n), n * distribute.num_replicas(),
                     on_value=False, off_value=True)
    return info_nce(query, keys, distribute.all_gather(keys), temperature, own)


def negative_cosine_similarity(p, z):
    """Mean over rows of ``-cos(p_i, stop_gradient(z_i))`` (SimSiam's D, BYOL's loss up to 2 + 2x).

    The symmetric loss SimSiam and BYOL train with is
    ``0.5 * D(p1, z2) + 0.5 * D(p2, z1)``.  Minimum -1 (aligned), maximum 1.
    XLA-compiled, in at least float32.

    Args:
        p: ``[n, d]`` predictions (gradients flow).
        z: ``[n, d]`` targets (gradients stopped).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import negative_cosine_similarity
    >>> p = np.eye(3, dtype="float32")
    >>> round(float(negative_cosine_similarity(p, 2 * p)), 6)
    -1.0
    """
    p = _float(p)
    return _negative_cosine_similarity(p, tf.stop_gradient(tf.cast(z, p.dtype)))


@xla_core
def _negative_cosine_similarity(p, z):
    p = tf.math.l2_normalize(p, axis=1)
    z = tf.math.l2_normalize(z, axis=1)
    return -tf.reduce_mean(tf.reduce_sum(p * z, axis=1))


def nearest_neighbour_nce(query, features, feature_queue, key_queue, k=20, temperature=0.2):
    """kNN-MoCo's auxiliary loss (Van Gansbeke et al., "Revisiting Contrastive Methods...").

    For each query, its ``k`` nearest neighbours are mined by cosine
    similarity between the query's **backbone** feature (``features``) and
    the queue of the keys' backbone features (``feature_queue``); the loss is
    minus the mean, over those ``k`` indices, of the log-softmax of the
    query's projected logits ``q . key_queue^T / T`` (the positive key
    excluded), averaged over queries: the query is pulled toward the
    neighbours' projected keys.  ``feature_queue`` and ``key_queue`` are
    aligned entry by entry; neither receives gradients.  The ranking and
    the log-softmax run in an XLA-compiled function.

    Args:
        query: ``[n, d]`` projected queries (gradients flow).
        features: ``[n, f]`` backbone features of the same queries (only ranked).
        feature_queue: ``[K, f]`` backbone features of queued keys.
        key_queue: ``[K, d]`` projected queued keys.
        k: neighbours per query (20 in the paper).
        temperature: the instance loss's temperature.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses.info_nce import nearest_neighbour_nce
    >>> rng = np.random.default_rng(0)
    >>> q, f = rng.normal(size=(4, 8)), rng.normal(size=(4, 16))
    >>> loss = nearest_neighbour_nce(q, f, rng.normal(size=(32, 16)), rng.normal(size=(32, 8)), k=5)
    """
    check_temperature(temperature)
    queued = getattr(feature_queue, "shape", [None])[0]
    check_number("k", k, low=1, high=queued, integer=True)  # high=None: unknown queue size
    query = tf.math.l2_normalize(_float(query), axis=1)
    features = tf.math.l2_normalize(tf.stop_gradient(tf.cast(features, query.dtype)), axis=1)
    feature_queue = tf.math.l2_normalize(
        tf.stop_gradient(tf.cast(feature_queue, query.dtype)), axis=1)
    key_queue = tf.math.l2_normalize(tf.stop_gradient(tf.cast(key_queue, query.dtype)), axis=1)
    return tf.reduce_mean(_nearest_neighbour_terms(
        query, features, feature_queue, key_queue, k, tf.cast(temperature, query.dtype)))


@xla_core
def _nearest_neighbour_terms(query, features, feature_queue, key_queue, k, temperature):
    """``[n, k]``: minus each query's log-probability of each of its ``k`` neighbours' keys."""
    _, neighbours = tf.math.top_k(tf.matmul(features, feature_queue, transpose_b=True), k=k)
    log_probs = tf.nn.log_softmax(tf.matmul(query, key_queue, transpose_b=True) / temperature,
                                  axis=1)
    return -tf.gather(log_probs, neighbours, batch_dims=1)
