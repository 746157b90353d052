"""dense_contrastive (DenseCL's dense loss) against a NumPy transcription of the authors' code."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import dense_contrastive


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def numpy_dense_contrastive(q_grid, k_grid, q_b, k_b, queue2, temperature):
    """Wang et al. 2021's ``forward_train`` (dense part), one image and one location at a
    time: the backbone similarity matrix ``q_b^T k_b``, its argmax over key locations
    (densecl_sim_ind), the matched key as the positive logit, the dense queue as the
    negatives, cross-entropy with the positive at index 0, averaged over all locations."""
    q_grid, k_grid, q_b, k_b, queue2 = map(_unit, (q_grid, k_grid, q_b, k_b, queue2))
    losses = []
    for i in range(len(q_grid)):
        backbone_sim_matrix = q_b[i] @ k_b[i].T
        densecl_sim_ind = backbone_sim_matrix.argmax(axis=1)
        for s in range(q_grid.shape[1]):
            l_pos = q_grid[i, s] @ k_grid[i, densecl_sim_ind[s]]
            l_neg = queue2 @ q_grid[i, s]
            logits = np.concatenate([[l_pos], l_neg]) / temperature
            losses.append(-(logits[0] - np.log(np.sum(np.exp(logits)))))
    return np.mean(losses)


def _inputs(rng, n, s, key_s, d=8, c=12, k=16):
    return (rng.normal(size=(n, s, d)), rng.normal(size=(n, key_s, d)),
            rng.normal(size=(n, s, c)), rng.normal(size=(n, key_s, c)),
            rng.normal(size=(k, d)))


@pytest.mark.parametrize("temperature", [0.2, 0.07, 1.0])
@pytest.mark.parametrize("n,s,key_s", [(1, 1, 1), (3, 9, 9), (2, 4, 16)])
def test_dense_contrastive_equals_numpy(temperature, n, s, key_s):
    rng = np.random.default_rng(n * 100 + s * 10 + key_s)
    inputs = _inputs(rng, n, s, key_s)
    got = float(dense_contrastive(*[x.astype(np.float32) for x in inputs], temperature))
    np.testing.assert_allclose(got, numpy_dense_contrastive(*inputs, temperature),
                               rtol=1e-5, atol=1e-5)


def test_feature_maps_are_read_as_their_locations():
    """[n, h, w, c] maps: the same value as their [n, h * w, c] locations."""
    rng = np.random.default_rng(1)
    q, k, qb, kb, queue = _inputs(rng, 2, 6, 6)
    maps = [x.reshape(2, 2, 3, -1).astype(np.float32) for x in (q, k, qb, kb)]
    np.testing.assert_allclose(float(dense_contrastive(*maps, queue.astype(np.float32))),
                               numpy_dense_contrastive(q, k, qb, kb, queue, 0.2), rtol=1e-5)


def test_positives_follow_backbone_similarity_not_position():
    """Reordering the key view's locations (projections and backbone features alike) leaves
    the loss unchanged: the match is by feature.  Reordering the projections alone, or
    matching on other backbone features, changes it."""
    rng = np.random.default_rng(2)
    q, k, qb, kb, queue = (x.astype(np.float32) for x in _inputs(rng, 2, 9, 9))
    order = rng.permutation(9)
    base = float(dense_contrastive(q, k, qb, kb, queue))
    np.testing.assert_allclose(
        float(dense_contrastive(q, k[:, order], qb, kb[:, order], queue)), base, rtol=1e-6)
    assert abs(float(dense_contrastive(q, k[:, order], qb, kb, queue)) - base) > 1e-3
    assert abs(float(dense_contrastive(q, k, qb, rng.normal(size=kb.shape).astype(np.float32),
                                       queue)) - base) > 1e-3


def test_gradient_reaches_the_projections_and_matches_finite_differences():
    rng = np.random.default_rng(3)
    q, k, qb, kb, queue = (tf.constant(x) for x in _inputs(rng, 2, 4, 5, d=3, k=6))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([q, k, qb, kb])
        loss = dense_contrastive(q, k, qb, kb, queue, 0.3)
    assert tape.gradient(loss, qb) is None and tape.gradient(loss, kb) is None  # the matching
    for index, x in enumerate((q, k)):
        grad = tape.gradient(loss, x).numpy()
        args = [q.numpy(), k.numpy(), qb.numpy(), kb.numpy(), queue.numpy(), 0.3]
        eps, numeric = 1e-6, np.zeros_like(grad)
        for position in np.ndindex(*grad.shape):
            step = np.zeros(grad.shape)
            step[position] = eps
            up, down = list(args), list(args)
            up[index], down[index] = args[index] + step, args[index] - step
            numeric[position] = (numpy_dense_contrastive(*up)
                                 - numpy_dense_contrastive(*down)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 2, 2, 3)])
def test_dense_features_of_another_rank_are_refused(shape):
    x = np.ones(shape, "float32")
    with pytest.raises(ValueError, match=r"\[n, h, w, c\] maps or \[n, S, c\] tokens"):
        dense_contrastive(x, x, x, x, np.ones((4, 3), "float32"))
