"""DenseCL's dense contrastive loss (Wang et al. 2021): feature-matched locations of two views."""
import tensorflow as tf

from keras_contrastive._numerics import at_least_float32, xla_core
from keras_contrastive.losses.info_nce import info_nce


@xla_core
def _matched_keys(query_backbone, key_backbone, key_dense):
    """Each query location's positive: the dense key at the key location whose backbone
    feature is the most similar (cosine) to the query location's."""
    similarity = tf.matmul(query_backbone, key_backbone, transpose_b=True)  # [n, S, S']
    match = tf.argmax(similarity, axis=2, output_type=tf.int32)  # [n, S]
    return tf.gather(key_dense, match, batch_dims=1)


def dense_locations(feature_map):
    """``[n, h, w, c]`` feature maps (or ``[n, S, c]`` tokens) as ``[n, S, c]`` locations.

    >>> import numpy as np
    >>> from keras_contrastive.losses.densecl import dense_locations
    >>> dense_locations(np.zeros((2, 3, 4, 5), "float32")).shape
    TensorShape([2, 12, 5])
    """
    feature_map = tf.convert_to_tensor(feature_map)
    if feature_map.shape.rank == 4:
        shape = tf.shape(feature_map)
        return tf.reshape(feature_map, [shape[0], shape[1] * shape[2], shape[3]])
    if feature_map.shape.rank != 3:
        raise ValueError(f"dense features must be [n, h, w, c] maps or [n, S, c] tokens, got "
                         f"shape {feature_map.shape}.")
    return feature_map


def dense_contrastive(query, key, query_backbone, key_backbone, negatives, temperature=0.2):
    """DenseCL's dense contrastive loss (Wang et al. 2021, eq. 2 and Sec. 3.3).

    Every location ``s`` of the query view's dense projections ``r_s`` is a
    query.  Its positive key ``t_+`` is the key view's dense projection at
    the location ``argmax_j cos(f_s, f'_j)`` of the highest cosine
    similarity between the **backbone** features ``f`` (query view) and
    ``f'`` (key view): correspondence by feature similarity, not by
    geometry.  The negatives ``t_-`` are the dense queue (pooled dense keys
    of earlier batches), shared by all locations:

        l_s = -log( exp(r_s . t_+ / T) / (exp(r_s . t_+ / T) + sum_- exp(r_s . t_- / T)) )

    with every vector l2-normalised, and the loss is the mean of ``l_s``
    over the ``n * S`` query locations (each image's ``1 / S^2``-weighted sum
    in the paper, averaged over the batch: the same value).  The matching
    has no gradient; gradients flow into ``query`` and ``key`` (stop them at
    the caller: DenseCL's keys come from a momentum encoder).  Matching in
    an XLA-compiled core, InfoNCE by :func:`keras_contrastive.losses.info_nce`.

    Args:
        query: ``[n, S, d]`` dense projections of the query view (or
            ``[n, h, w, d]`` maps).
        key: ``[n, S', d]`` dense projections of the key view.
        query_backbone: ``[n, S, c]`` backbone features of the query view, at
            the same locations as ``query``.
        key_backbone: ``[n, S', c]`` backbone features of the key view.
        negatives: ``[K, d]`` the dense queue.
        temperature: ``T > 0`` (0.2 in the paper).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import dense_contrastive
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(2, 9, 8)).astype("float32")  # backbone, 3x3 locations
    >>> r = rng.normal(size=(2, 9, 4)).astype("float32")  # dense projections
    >>> queue = rng.normal(size=(16, 4)).astype("float32")
    >>> shuffled = f[:, ::-1], r[:, ::-1]  # the key view: the same locations, reordered
    >>> aligned = float(dense_contrastive(r, shuffled[1], f, shuffled[0], queue))
    >>> aligned < float(dense_contrastive(r, r[:, ::-1], f, f, queue))  # matched vs not
    True
    """
    query, key = dense_locations(at_least_float32(query)), dense_locations(key)
    query_backbone = tf.math.l2_normalize(
        dense_locations(tf.cast(query_backbone, query.dtype)), axis=-1)
    key_backbone = tf.math.l2_normalize(
        dense_locations(tf.cast(key_backbone, query.dtype)), axis=-1)
    matched = _matched_keys(tf.stop_gradient(query_backbone), tf.stop_gradient(key_backbone),
                            tf.cast(key, query.dtype))
    depth = tf.shape(query)[-1]
    return info_nce(tf.reshape(query, [-1, depth]), tf.reshape(matched, [-1, depth]),
                    negatives, temperature)
