"""Redundancy reduction: Barlow Twins and VICReg, on global-batch statistics."""
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_non_negative
from keras_contrastive._numerics import at_least_float32, xla_core


def _global_float(z):
    """``z`` in at least float32, gathered over replicas (differentiably)."""
    return distribute.all_gather(at_least_float32(z))


def _off_diagonal_sum_of_squares(matrix):
    return tf.reduce_sum(tf.square(matrix)) - tf.reduce_sum(tf.square(tf.linalg.diag_part(matrix)))


@xla_core
def _barlow_twins(z_a, z_b, lambda_, epsilon):
    def standardise(z):  # BatchNorm without affine parameters: biased variance
        mean, variance = tf.nn.moments(z, axes=[0])
        return (z - mean) / tf.sqrt(variance + epsilon)

    n = tf.cast(tf.shape(z_a)[0], z_a.dtype)
    c = tf.matmul(standardise(z_a), standardise(z_b), transpose_a=True) / n
    on_diagonal = tf.reduce_sum(tf.square(1.0 - tf.linalg.diag_part(c)))
    return on_diagonal + lambda_ * _off_diagonal_sum_of_squares(c)


def barlow_twins(z_a, z_b, lambda_=5e-3, epsilon=1e-5):
    """Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021) over the global batch.

    Each embedding dimension is standardised over the ``N`` examples of the
    global batch, as the official implementation's BatchNorm without affine
    parameters does (biased variance, ``epsilon`` inside the square root);
    the cross-correlation of the two views is ``C = z_a^T z_b / N`` and

        L = sum_i (1 - C_ii)^2 + lambda_ * sum_{i != j} C_ij^2

    Under a ``tf.distribute`` strategy each replica gathers every replica's
    embeddings (differentiably) and returns the same global value, so the
    statistics are those of the global batch, never per replica.  Runs in
    float32 (or float64) in an XLA-compiled function.

    Args:
        z_a, z_b: projections of the two views, ``[n, d]``, row-aligned (this
            replica's part of the global batch).
        lambda_: weight of the off-diagonal (redundancy) term; 5e-3 in the paper.
        epsilon: added to the variance before the square root.

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import barlow_twins
    >>> z = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    >>> float(barlow_twins(z, z)) < float(barlow_twins(z, z[::-1]))
    True
    """
    check_non_negative(lambda_=lambda_, epsilon=epsilon)
    z_a, z_b = _global_float(z_a), _global_float(z_b)
    return _barlow_twins(z_a, z_b, tf.cast(lambda_, z_a.dtype), tf.cast(epsilon, z_a.dtype))


@xla_core
def _vicreg_terms(z_a, z_b, epsilon):
    invariance = tf.reduce_mean(tf.square(z_a - z_b))
    n = tf.cast(tf.shape(z_a)[0], z_a.dtype)
    d = tf.cast(tf.shape(z_a)[1], z_a.dtype)

    def variance_and_covariance(z):
        z = z - tf.reduce_mean(z, axis=0)
        covariance = tf.matmul(z, z, transpose_a=True) / (n - 1.0)  # unbiased
        std = tf.sqrt(tf.linalg.diag_part(covariance) + epsilon)
        return (tf.reduce_mean(tf.nn.relu(1.0 - std)),
                _off_diagonal_sum_of_squares(covariance) / d)

    variance_a, covariance_a = variance_and_covariance(z_a)
    variance_b, covariance_b = variance_and_covariance(z_b)
    return invariance, (variance_a + variance_b) / 2.0, covariance_a + covariance_b


def vicreg_terms(z_a, z_b, epsilon=1e-4):
    """VICReg's three terms ``(invariance, variance, covariance)`` over the global batch.

    With the official implementation's conventions, on the ``N x d``
    embeddings of the global batch:

    * invariance: the mean squared error between the two views' embeddings;
    * variance: ``mean_j relu(1 - sqrt(Var(z_j) + epsilon))`` with the
      unbiased variance, averaged over the two views;
    * covariance: the sum of the squared off-diagonal entries of the
      unbiased covariance matrix divided by ``d``, summed over the two views.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import vicreg_terms
    >>> z = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> [round(float(t), 3) for t in vicreg_terms(z, z)][0]  # identical views
    0.0
    """
    check_non_negative(epsilon=epsilon)
    z_a, z_b = _global_float(z_a), _global_float(z_b)
    return _vicreg_terms(z_a, z_b, tf.cast(epsilon, z_a.dtype))


def vicreg(z_a, z_b, sim_weight=25.0, var_weight=25.0, cov_weight=1.0, epsilon=1e-4):
    """VICReg's loss (Bardes et al. 2022): a weighted sum of :func:`vicreg_terms`.

        L = sim_weight * invariance + var_weight * variance + cov_weight * covariance

    The statistics are those of the global batch under any ``tf.distribute``
    strategy (each replica gathers all embeddings and returns the same
    value).  XLA-compiled; float32 or float64.

    Args:
        z_a, z_b: expander outputs of the two views, ``[n, d]``, row-aligned.
        sim_weight, var_weight, cov_weight: the paper's lambda, mu, nu (25, 25, 1).
        epsilon: added to the variance before the square root.

    Returns:
        A scalar.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import vicreg
    >>> z = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> float(vicreg(z, z)) < float(vicreg(z, z[::-1]))
    True
    """
    check_non_negative(sim_weight=sim_weight, var_weight=var_weight, cov_weight=cov_weight)
    invariance, variance, covariance = vicreg_terms(z_a, z_b, epsilon)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
