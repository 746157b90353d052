"""npid (the non-parametric softmax over a memory bank) against a NumPy transcription of the paper."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import npid


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_npid(features, indices, bank, temperature, proximal=0.0):
    """Wu et al. 2018, eq. 2 (P(i|v) over the memory bank) and Sec. 3.4's proximal
    term, one image at a time: -log P(i | f_i) + lambda ||f_i - v_i||^2."""
    f, v = _unit(features), _unit(bank)
    losses = []
    for row, i in enumerate(indices):
        scores = np.array([np.exp(v[j] @ f[row] / temperature) for j in range(len(v))])
        probability = scores[i] / scores.sum()
        losses.append(-np.log(probability) + proximal * np.sum((f[row] - v[i]) ** 2))
    return np.mean(losses)


@pytest.mark.parametrize("temperature,proximal", [(0.07, 0.0), (0.2, 0.0), (0.07, 30.0),
                                                  (1.0, 0.5)])
@pytest.mark.parametrize("n,size", [(1, 5), (8, 64), (13, 13)])
def test_npid_equals_numpy(temperature, proximal, n, size):
    rng = np.random.default_rng(n * 100 + size)
    bank = rng.normal(size=(size, 16)).astype(np.float32)
    indices = rng.choice(size, n, replace=False)
    features = (bank[indices] + 0.7 * rng.normal(size=(n, 16))).astype(np.float32)
    np.testing.assert_allclose(
        float(npid(features, indices, bank, temperature, proximal)),
        numpy_npid(features, indices, bank, temperature, proximal), rtol=1e-5, atol=1e-5)


def test_npid_in_float32_is_exact_at_a_low_temperature():
    """Log-sum-exp: at T = 0.01 the scores reach exp(100), past float32's range."""
    rng = np.random.default_rng(3)
    bank, features = rng.normal(size=(32, 8)), rng.normal(size=(4, 8))
    indices = np.array([3, 1, 4, 15])
    got = float(npid(features.astype("float32"), indices, bank.astype("float32"), 0.01))
    np.testing.assert_allclose(got, numpy_npid(features, indices, bank, 0.01), rtol=1e-5)


def test_gradient_reaches_the_features_not_the_bank_and_matches_finite_differences():
    rng = np.random.default_rng(2)
    features = tf.constant(rng.normal(size=(3, 5)))
    bank = tf.constant(rng.normal(size=(7, 5)))
    indices = np.array([6, 0, 2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([features, bank])
        loss = npid(features, indices, bank, 0.3, proximal=0.5)
    assert tape.gradient(loss, bank) is None
    grad = tape.gradient(loss, features).numpy()
    eps, numeric = 1e-6, np.zeros_like(grad)
    for index in np.ndindex(*grad.shape):
        step = np.zeros(grad.shape)
        step[index] = eps
        numeric[index] = (numpy_npid(features.numpy() + step, indices, bank.numpy(), 0.3, 0.5)
                          - numpy_npid(features.numpy() - step, indices, bank.numpy(), 0.3, 0.5)
                          ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_own_entry_is_the_positive():
    """Each feature is scored against its own entry: equal to the bank entry, the
    loss is below the uniform log(N) and rises when the indices are permuted."""
    bank = _unit(np.random.default_rng(4).normal(size=(16, 32))).astype("float32")
    indices = np.arange(8)
    right = float(npid(bank[:8], indices, bank, 0.1))
    assert right < np.log(16) - 1.0
    assert float(npid(bank[:8], indices[::-1], bank, 0.1)) > right + 1.0


@pytest.mark.parametrize("kwargs,match", [({"temperature": 0.0}, "temperature"),
                                          ({"proximal": -1.0}, "proximal")])
def test_npid_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        npid(np.ones((2, 3), "float32"), [0, 1], np.eye(3, dtype="float32"), **kwargs)
