"""NNCLR's nearest neighbours and loss against NumPy transcriptions of the paper."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import nearest_neighbours, nnclr_loss


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_nearest(z, support):
    z, s = _unit(z), _unit(support)
    return np.stack([s[np.argmax([zi @ sj for sj in s])] for zi in z])


def numpy_nnclr(z_a, z_b, support, temperature, p_a=None, p_b=None):
    """Eq. 2 of Dwibedi et al. 2021, one example at a time, both directions averaged;
    with predictions, NN(z_i) . p_k^+ in place of NN(z_i) . z_k^+."""
    p_a = z_a if p_a is None else p_a
    p_b = z_b if p_b is None else p_b

    def one_way(z, z_plus):
        nn, zp = numpy_nearest(z, support), _unit(z_plus)
        losses = []
        for i in range(len(z)):
            logits = np.array([nn[i] @ zp[k] / temperature for k in range(len(z))])
            losses.append(-np.log(np.exp(logits[i]) / np.exp(logits).sum()))
        return np.mean(losses)
    return 0.5 * (one_way(z_a, p_b) + one_way(z_b, p_a))


def test_nearest_neighbours_equal_brute_force():
    rng = np.random.default_rng(0)
    z, support = rng.normal(size=(9, 6)), rng.normal(size=(40, 6))
    np.testing.assert_allclose(nearest_neighbours(z.astype("float32"), support.astype("float32")),
                               numpy_nearest(z, support), atol=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
@pytest.mark.parametrize("n", [2, 11])
def test_nnclr_loss_equals_numpy(temperature, n):
    rng = np.random.default_rng(n)
    z_a = rng.normal(size=(n, 8)).astype("float32")
    z_b = (z_a + 0.5 * rng.normal(size=(n, 8))).astype("float32")
    support = rng.normal(size=(32, 8)).astype("float32")
    np.testing.assert_allclose(float(nnclr_loss(z_a, z_b, support, temperature)),
                               numpy_nnclr(z_a, z_b, support, temperature), rtol=1e-5, atol=1e-5)


def test_nnclr_loss_with_predictions_equals_numpy():
    rng = np.random.default_rng(3)
    z_a, z_b, p_a, p_b = (rng.normal(size=(7, 8)).astype("float32") for _ in range(4))
    support = rng.normal(size=(16, 8)).astype("float32")
    expected = numpy_nnclr(z_a, z_b, support, 0.2, p_a, p_b)
    np.testing.assert_allclose(float(nnclr_loss(z_a, z_b, support, 0.2, p_a, p_b)), expected,
                               rtol=1e-5, atol=1e-5)
    # the predictions matter: without them the loss is another number
    assert abs(float(nnclr_loss(z_a, z_b, support, 0.2)) - expected) > 0.1


def test_no_gradient_through_the_support_set():
    rng = np.random.default_rng(1)
    z_a, z_b = (tf.Variable(rng.normal(size=(4, 5)).astype("float32")) for _ in range(2))
    support = tf.Variable(rng.normal(size=(8, 5)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = nnclr_loss(z_a, z_b, support)
    grads = tape.gradient(loss, [z_a, z_b, support])
    assert grads[2] is None
    assert all(np.abs(g.numpy()).sum() > 0 for g in grads[:2])
