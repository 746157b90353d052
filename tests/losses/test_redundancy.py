"""Barlow Twins and VICReg against independent NumPy transcriptions of the papers'
formulas (element by element, float64), and their global-batch statistics on 2 replicas."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import barlow_twins, vicreg, vicreg_terms


def numpy_barlow_twins(z_a, z_b, lambda_, eps=1e-5):
    """Zbontar et al. Algorithm 1: normalise along the batch (BN, no affine), C = z_a^T z_b / N."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    n, d = z_a.shape
    norm_a = (z_a - z_a.mean(0)) / np.sqrt(z_a.var(0) + eps)  # np.var is the biased variance
    norm_b = (z_b - z_b.mean(0)) / np.sqrt(z_b.var(0) + eps)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(norm_a[b, i] * norm_b[b, j] for b in range(n)) / n
            loss += (1.0 - c_ij) ** 2 if i == j else lambda_ * c_ij ** 2
    return loss


def numpy_vicreg(z_a, z_b, sim, var, cov, eps=1e-4):
    """Bardes et al. Algorithm 1 (the official code's conventions), term by term."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    n, d = z_a.shape
    invariance = np.mean([(z_a[b, j] - z_b[b, j]) ** 2 for b in range(n) for j in range(d)])
    variance, covariance = 0.0, 0.0
    for z in (z_a, z_b):
        centred = z - z.mean(0)
        cov_matrix = np.array([[sum(centred[b, i] * centred[b, j] for b in range(n)) / (n - 1)
                                for j in range(d)] for i in range(d)])
        std = np.sqrt(np.diag(cov_matrix) + eps)
        variance += np.mean(np.maximum(0.0, 1.0 - std)) / 2
        covariance += sum(cov_matrix[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return (invariance, variance, covariance), sim * invariance + var * variance + cov * covariance


def _pair(seed, n, d, scale=1.0):
    rng = np.random.default_rng(seed)
    z_a = rng.normal(size=(n, d)) * scale
    return z_a.astype(np.float32), (z_a + 0.5 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("lambda_", [5e-3, 0.0, 1.0])
@pytest.mark.parametrize("n,d", [(16, 8), (7, 12)])
def test_barlow_twins_equals_numpy(lambda_, n, d):
    z_a, z_b = _pair(n + d, n, d, scale=3.0)
    np.testing.assert_allclose(float(barlow_twins(z_a, z_b, lambda_)),
                               numpy_barlow_twins(z_a, z_b, lambda_), rtol=1e-5, atol=1e-5)


def test_barlow_twins_is_zero_only_when_views_are_identical_and_decorrelated():
    # whitened identical views: C = I exactly (up to eps), so the loss vanishes
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8))
    q, _ = np.linalg.qr(x - x.mean(0))  # orthonormal, zero-mean columns
    z = q * np.sqrt(64)  # unit biased variance, z^T z / N = I
    assert float(barlow_twins(z, z, 5e-3, epsilon=0.0)) < 1e-3
    assert float(barlow_twins(z, -z, 5e-3, epsilon=0.0)) == pytest.approx(4 * 8, rel=1e-3)


@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 3.0)])
@pytest.mark.parametrize("n,d,scale", [(16, 8, 1.0), (9, 5, 0.2)])
def test_vicreg_equals_numpy(weights, n, d, scale):
    z_a, z_b = _pair(n * d, n, d, scale)
    terms, total = numpy_vicreg(z_a, z_b, *weights)
    np.testing.assert_allclose([float(t) for t in vicreg_terms(z_a, z_b)], terms,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(vicreg(z_a, z_b, *weights)), total, rtol=1e-5, atol=1e-5)


def test_vicreg_variance_term_is_active_only_below_unit_std():
    # scale 0.2 -> std ~0.2 < 1: hinge active; scale 5 -> std ~5: hinge inactive
    assert float(vicreg_terms(*_pair(0, 64, 4, 0.2))[1]) > 0.5
    assert float(vicreg_terms(*_pair(0, 64, 4, 5.0))[1]) == 0.0


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
def test_gradient_matches_finite_differences(loss):
    z_a, z_b = (tf.constant(z, tf.float64) for z in _pair(3, 8, 4))
    theoretical, numerical = tf.test.compute_gradient(lambda a: loss(a, z_b), [z_a])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
def test_two_replicas_use_global_batch_statistics(loss, two_replicas):
    """Each replica returns the global loss and the gradient of its slice is the
    global gradient's slice (per-replica statistics would give other values)."""
    z_a, z_b = _pair(5, 12, 6, scale=2.0)
    expected = float(loss(z_a, z_b))
    with tf.GradientTape() as tape:
        a = tf.constant(z_a)
        tape.watch(a)
        global_loss = loss(a, z_b)
    expected_gradient = tape.gradient(global_loss, a).numpy()

    def shard(x):
        return two_replicas.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * 6:(ctx.replica_id_in_sync_group + 1) * 6])

    def step(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            value = loss(a, b)
            # each replica's share of the loss (ContrastiveModel divides by the
            # replica count); all_gather's gradient sums the shares
            share = value / 2.0
        return value, tape.gradient(share, a)

    values, gradients = tf.function(lambda a, b: two_replicas.run(step, args=(a, b)))(
        shard(z_a), shard(z_b))
    for value in two_replicas.experimental_local_results(values):
        np.testing.assert_allclose(float(value), expected, rtol=1e-5)
    gathered = np.concatenate([g.numpy() for g in two_replicas.experimental_local_results(gradients)])
    np.testing.assert_allclose(gathered, expected_gradient, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", [barlow_twins, vicreg])
def test_low_precision_inputs_are_computed_in_float32(loss):
    z_a, z_b = _pair(1, 32, 8)
    assert loss(tf.constant(z_a, tf.float16), tf.constant(z_b, tf.bfloat16)).dtype == tf.float32


def test_negative_weights_are_rejected():
    z_a, z_b = _pair(1, 8, 4)
    with pytest.raises(ValueError, match="lambda_"):
        barlow_twins(z_a, z_b, lambda_=-1.0)
    with pytest.raises(ValueError, match="var_weight"):
        vicreg(z_a, z_b, var_weight=-1.0)
