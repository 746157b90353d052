"""info_nce and negative_cosine_similarity against independent NumPy transcriptions."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import batch_info_nce, info_nce, negative_cosine_similarity


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_info_nce(query, positive_key, negatives, temperature, mask=None):
    """MoCo's eq. (1), one query at a time."""
    q, k, queue = _unit(query), _unit(positive_key), _unit(negatives)
    losses = []
    for i in range(len(q)):
        positive = np.exp(q[i] @ k[i] / temperature)
        negative = sum(
            np.exp(q[i] @ queue[j] / temperature)
            for j in range(len(queue))
            if mask is None or mask[i, j]
        )
        losses.append(-np.log(positive / (positive + negative)))
    return np.mean(losses)


def numpy_batch_info_nce(query, keys, temperature):
    """MoCo v3's ctr(q, k): cross-entropy of q . K^T / T with label i, mean over i."""
    q, k = _unit(query), _unit(keys)
    losses = []
    for i in range(len(q)):
        logits = np.array([q[i] @ k[j] / temperature for j in range(len(k))])
        losses.append(np.log(np.exp(logits).sum()) - logits[i])
    return np.mean(losses)


def numpy_negative_cosine(p, z):
    return -np.mean(np.sum(_unit(p) * _unit(z), axis=1))


@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
@pytest.mark.parametrize("n,k", [(1, 5), (8, 64), (13, 3)])
def test_info_nce_equals_numpy(temperature, n, k):
    rng = np.random.default_rng(n * 100 + k)
    q = rng.normal(size=(n, 16)).astype(np.float32)
    key = (q + 0.7 * rng.normal(size=(n, 16))).astype(np.float32)
    queue = rng.normal(size=(k, 16)).astype(np.float32)
    np.testing.assert_allclose(
        float(info_nce(q, key, queue, temperature)),
        numpy_info_nce(q, key, queue, temperature), rtol=1e-5, atol=1e-5)


def test_info_nce_mask_removes_negatives():
    rng = np.random.default_rng(1)
    q, key = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    negatives = rng.normal(size=(6, 8))
    mask = ~np.eye(6, dtype=bool)  # MoCo v3 style: own key is not a negative
    got = float(info_nce(q.astype("float32"), key.astype("float32"),
                         negatives.astype("float32"), 0.5, negatives_mask=mask))
    np.testing.assert_allclose(got, numpy_info_nce(q, key, negatives, 0.5, mask), rtol=1e-5)
    unmasked = float(info_nce(q.astype("float32"), key.astype("float32"),
                              negatives.astype("float32"), 0.5))
    assert got < unmasked  # fewer terms in the denominator


def test_info_nce_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    q = tf.constant(rng.normal(size=(3, 5)))
    key = tf.constant(rng.normal(size=(3, 5)))
    queue = tf.constant(rng.normal(size=(7, 5)))
    with tf.GradientTape() as tape:
        tape.watch(q)
        loss = info_nce(q, key, queue, 0.3)
    grad = tape.gradient(loss, q).numpy()
    eps = 1e-6
    numeric = np.zeros_like(grad)
    for index in np.ndindex(*grad.shape):
        d = np.zeros(grad.shape)
        d[index] = eps
        numeric[index] = (numpy_info_nce(q.numpy() + d, key, queue, 0.3)
                          - numpy_info_nce(q.numpy() - d, key, queue, 0.3)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_info_nce_finite_in_float16_at_low_temperature():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(8, 32)).astype(np.float16)
    value = float(info_nce(q, q, rng.normal(size=(64, 32)).astype(np.float16), 0.01))
    assert np.isfinite(value)


def test_info_nce_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        info_nce(np.ones((2, 3)), np.ones((2, 3)), np.ones((4, 3)), temperature=0.0)


@pytest.mark.parametrize("n,d", [(1, 4), (9, 32)])
def test_negative_cosine_similarity_equals_numpy(n, d):
    rng = np.random.default_rng(n + d)
    p = rng.normal(size=(n, d)).astype(np.float32)
    z = rng.normal(size=(n, d)).astype(np.float32)
    np.testing.assert_allclose(float(negative_cosine_similarity(p, z)),
                               numpy_negative_cosine(p, z), rtol=1e-5, atol=1e-6)


def test_negative_cosine_similarity_stops_gradient_into_target():
    p = tf.Variable(np.random.default_rng(4).normal(size=(4, 6)).astype("float32"))
    z = tf.Variable(np.random.default_rng(5).normal(size=(4, 6)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = negative_cosine_similarity(p, z)
    grad_p, grad_z = tape.gradient(loss, [p, z])
    assert grad_z is None
    assert np.abs(grad_p.numpy()).sum() > 0


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_batch_info_nce_equals_numpy(temperature):
    rng = np.random.default_rng(5)
    q = rng.normal(size=(10, 8)).astype(np.float32)
    k = (q + 0.5 * rng.normal(size=(10, 8))).astype(np.float32)
    np.testing.assert_allclose(float(batch_info_nce(q, k, temperature)),
                               numpy_batch_info_nce(q, k, temperature), rtol=1e-5, atol=1e-5)


def test_batch_info_nce_on_two_replicas_uses_the_global_batch(two_replicas):
    """Each replica's queries see all 12 keys, labelled at their global index."""
    rng = np.random.default_rng(6)
    q = rng.normal(size=(12, 8)).astype(np.float32)
    k = rng.normal(size=(12, 8)).astype(np.float32)

    def split(x):
        return two_replicas.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * 6:(ctx.replica_id_in_sync_group + 1) * 6])

    per_replica = tf.function(lambda a, b: two_replicas.run(
        lambda x, y: batch_info_nce(x, y, 0.5), args=(a, b)))(split(q), split(k))
    losses = [float(t) for t in two_replicas.experimental_local_results(per_replica)]
    # the mean of the two replicas' means is the global mean
    np.testing.assert_allclose(np.mean(losses), numpy_batch_info_nce(q, k, 0.5), rtol=1e-5)
    logits = _unit(q[6:]) @ _unit(k).T / 0.5
    second = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(6), np.arange(6, 12)])
    np.testing.assert_allclose(losses[1], second, rtol=1e-5)
