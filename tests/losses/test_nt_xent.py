"""nt_xent against an independent NumPy implementation of SimCLR's formula."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import NTXent, nt_xent


def numpy_nt_xent(z_a, z_b, temperature):
    """Direct transcription of the paper: 2N views, one anchor at a time."""
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_a)
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = np.array([z[i] @ z[a] / temperature for a in range(2 * n)])
        denominator = sum(np.exp(sims[a]) for a in range(2 * n) if a != i)
        losses.append(-np.log(np.exp(sims[j]) / denominator))
    return np.mean(losses)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("batch_size", [2, 7, 32])
def test_nt_xent_equals_numpy_reference(temperature, batch_size):
    rng = np.random.default_rng(batch_size)
    z_a = rng.normal(size=(batch_size, 16)).astype(np.float32)
    z_b = (z_a + 0.5 * rng.normal(size=(batch_size, 16))).astype(np.float32)
    expected = numpy_nt_xent(z_a, z_b, temperature)
    got = float(nt_xent(z_a, z_b, temperature))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_nt_xent_is_finite_at_low_temperature_in_float16_inputs():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(16, 32)).astype(np.float16)
    value = nt_xent(z, z[::-1].copy(), temperature=0.01)
    assert np.isfinite(float(value))
    np.testing.assert_allclose(
        float(value),
        numpy_nt_xent(z.astype(np.float32), z[::-1].astype(np.float32), 0.01),
        rtol=1e-3,
    )


def test_nt_xent_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    z_a = tf.Variable(rng.normal(size=(4, 5)), dtype=tf.float64)
    z_b = rng.normal(size=(4, 5))
    with tf.GradientTape() as tape:
        loss = nt_xent(tf.cast(z_a, tf.float32), z_b.astype(np.float32), 0.5)
    grad = tape.gradient(loss, z_a).numpy()
    eps = 1e-4
    base = z_a.numpy()
    numeric = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (
            numpy_nt_xent(plus, z_b, 0.5) - numpy_nt_xent(minus, z_b, 0.5)
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_non_positive_temperature_is_rejected(temperature):
    z = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, temperature)
    with pytest.raises(ValueError, match="temperature"):
        NTXent(temperature=temperature)


def test_keras_loss_wrapper_matches_function_and_round_trips():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(12, 8)).astype(np.float32)
    loss = NTXent(temperature=0.2)
    np.testing.assert_allclose(
        float(loss(None, z)), numpy_nt_xent(z[:6], z[6:], 0.2), rtol=1e-5
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert isinstance(restored, NTXent) and restored.temperature == 0.2
