"""koleo (DINOv2's KoLeo regulariser) against a NumPy transcription of DINOv2's KoLeoLoss."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import koleo


def numpy_koleo(features, epsilon=1e-8):
    """Sablayrolles et al. 2019 / DINOv2 ``KoLeoLoss.forward``, one row at a time:
    -mean_i log(min_{j != i} ||x_i - x_j|| + eps) on l2-normalised rows."""
    x = np.asarray(features, np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    terms = []
    for i in range(len(x)):
        nearest = min(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)
        terms.append(-np.log(nearest + epsilon))
    return np.mean(terms)


@pytest.mark.parametrize("n,d", [(2, 3), (8, 16), (33, 5)])
def test_koleo_equals_numpy(n, d):
    features = np.random.default_rng(n * 10 + d).normal(size=(n, d)).astype(np.float32)
    np.testing.assert_allclose(float(koleo(features)), numpy_koleo(features), rtol=1e-5,
                               atol=1e-5)


def test_gradient_matches_finite_differences_of_the_numpy_loss():
    """The neighbour is chosen without gradient; the distance carries it to both rows."""
    features = tf.constant(np.random.default_rng(1).normal(size=(6, 4)))
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = koleo(features)
    grad = tape.gradient(loss, features).numpy()
    eps, numeric = 1e-6, np.zeros_like(grad)
    for index in np.ndindex(*grad.shape):
        step = np.zeros(grad.shape)
        step[index] = eps
        numeric[index] = (numpy_koleo(features.numpy() + step)
                          - numpy_koleo(features.numpy() - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_spread_features_score_lower_and_duplicates_stay_finite():
    rng = np.random.default_rng(2)
    spread = rng.normal(size=(16, 8)).astype(np.float32)
    assert float(koleo(spread)) < float(koleo(spread * 0.05 + 1.0)) - 1.0
    twins = tf.constant(np.repeat(spread[:4], 2, axis=0))  # every row has an exact duplicate
    with tf.GradientTape() as tape:
        tape.watch(twins)
        loss = koleo(twins)
    assert np.isfinite(float(loss)) and np.all(np.isfinite(tape.gradient(loss, twins)))
