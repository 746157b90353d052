"""KoLeo (Sablayrolles et al. 2019; DINOv2, Oquab et al. 2023): the Kozachenko-Leonenko
differential-entropy estimator as a regulariser that spreads features."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._numerics import at_least_float32, xla_core


@xla_core
def _koleo_terms(local, everyone, offset, epsilon):
    """``-log(d_i + epsilon)`` for each local row ``i``, ``d_i`` its distance to its nearest
    other row of ``everyone`` (rows ``offset .. offset+n`` of which are ``local``)."""
    n = tf.shape(local)[0]
    dots = tf.matmul(local, everyone, transpose_b=True)  # [n, N]
    # on the unit sphere the nearest neighbour has the largest dot product; never itself
    dots -= 3.0 * tf.one_hot(tf.range(n) + offset, tf.shape(everyone)[0], dtype=dots.dtype)
    pick = tf.one_hot(tf.argmax(dots, axis=1), tf.shape(everyone)[0], dtype=dots.dtype)
    nearest = tf.matmul(pick, everyone)  # a dense gradient (a gather's is IndexedSlices)
    squared = tf.reduce_sum(tf.square(local - nearest), axis=1)
    distance = tf.sqrt(tf.maximum(squared, tf.square(epsilon)))  # finite gradient at 0
    return -tf.math.log(distance + epsilon)


def koleo(features, epsilon=1e-8):
    """The KoLeo regulariser of DINOv2 over the global batch.

    The features are l2-normalised; each row ``x_i`` finds its nearest
    neighbour among the other rows of the global batch, and the loss is

        -1/N sum_i log( min_{j != i} ||x_i - x_j|| + epsilon )

    (the Kozachenko-Leonenko entropy estimate, up to constants: lowering it
    spreads the features uniformly over the sphere).  As DINOv2's
    ``KoLeoLoss``, the neighbour is picked without gradient and the distance
    to it carries the gradient to both rows (a distance below ``epsilon``
    counts as ``epsilon``, so that duplicates give a finite gradient).  Under a ``tf.distribute``
    strategy each replica gathers every replica's features (differentiably),
    so the neighbours are those of the global batch, and returns the mean
    over its own rows; the mean over replicas is the global loss.
    XLA-compiled, in float32 (or float64).

    Args:
        features: ``[n, d]``, this replica's share of the global batch
            (``N >= 2`` rows in all).
        epsilon: added to the distance inside the log (1e-8 as DINOv2).

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import koleo
    >>> rng = np.random.default_rng(0)
    >>> spread = rng.normal(size=(16, 8)).astype("float32")
    >>> clumped = spread * 0.05 + 1.0
    >>> float(koleo(spread)) < float(koleo(clumped))
    True
    """
    features = tf.math.l2_normalize(at_least_float32(features), axis=1)
    everyone = distribute.all_gather(features)
    offset = distribute.global_offset(tf.shape(features)[0])
    return tf.reduce_mean(_koleo_terms(features, everyone, offset,
                                       tf.cast(epsilon, features.dtype)))
