"""SwAV's Sinkhorn-Knopp codes and swapped prediction against NumPy transcriptions of the
official code (distributed_sinkhorn and the training loop's loss), on 1 and 2 replicas."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import sinkhorn, swapped_prediction


def numpy_sinkhorn(scores, epsilon, iterations):
    """The official distributed_sinkhorn on one process, in float64."""
    q = np.exp(np.asarray(scores, np.float64) / epsilon).T  # K x B
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def numpy_swapped_prediction(scores, codes, temperature):
    total = 0.0
    for i, q in codes.items():
        subloss = 0.0
        for v in range(len(scores)):
            if v == i:
                continue
            x = np.asarray(scores[v], np.float64) / temperature
            log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
            subloss -= np.mean(np.sum(q * log_p, axis=1))
        total += subloss / (len(scores) - 1)
    return total / len(codes)


def _scores(seed, n, k):
    z = np.random.default_rng(seed).normal(size=(n, 8))
    c = np.random.default_rng(seed + 1).normal(size=(8, k))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=0, keepdims=True)
    return (z @ c).astype(np.float32)  # cosine similarities, as in SwAV


@pytest.mark.parametrize("epsilon,iterations", [(0.05, 3), (0.1, 1), (0.03, 10)])
@pytest.mark.parametrize("n,k", [(16, 5), (7, 30)])
def test_sinkhorn_equals_the_official_algorithm(epsilon, iterations, n, k):
    scores = _scores(n + k, n, k)
    np.testing.assert_allclose(sinkhorn(scores, epsilon, iterations).numpy(),
                               numpy_sinkhorn(scores, epsilon, iterations), rtol=1e-4, atol=1e-6)


def test_sinkhorn_codes_have_the_equipartition_marginals():
    scores = _scores(0, 64, 8)
    codes = sinkhorn(tf.constant(scores, tf.float64), 0.05, iterations=200).numpy()
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-4)  # each example: one unit
    np.testing.assert_allclose(codes.sum(axis=0), 64 / 8, atol=1e-4)  # each prototype: B/K
    # three iterations (the paper's) already give exact rows, near-equal columns
    codes = sinkhorn(scores, 0.05, 3).numpy()
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(codes.sum(axis=0) - 8).max() < 0.5 * 8


def test_sinkhorn_does_not_overflow_at_small_epsilon():
    codes = sinkhorn(_scores(1, 16, 4), epsilon=0.005, iterations=3).numpy()
    assert np.all(np.isfinite(codes))


def test_sinkhorn_on_two_replicas_solves_the_global_problem(two_replicas):
    scores = _scores(2, 12, 6)

    def shard(x):
        return two_replicas.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * 6:(ctx.replica_id_in_sync_group + 1) * 6])

    codes = tf.function(lambda s: two_replicas.run(lambda s: sinkhorn(s, 0.05, 3), args=(s,)))(
        shard(scores))
    gathered = np.concatenate([c.numpy() for c in two_replicas.experimental_local_results(codes)])
    np.testing.assert_allclose(gathered, numpy_sinkhorn(scores, 0.05, 3), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("num_views", [2, 4])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_swapped_prediction_equals_numpy(num_views, temperature):
    scores = [_scores(10 + v, 9, 6) for v in range(num_views)]
    codes = {0: numpy_sinkhorn(scores[0], 0.05, 3), 1: numpy_sinkhorn(scores[1], 0.05, 3)}
    np.testing.assert_allclose(
        float(swapped_prediction(scores, {i: q.astype(np.float32) for i, q in codes.items()},
                                 temperature)),
        numpy_swapped_prediction(scores, codes, temperature), rtol=1e-5)


def test_bad_arguments_are_refused():
    scores = _scores(0, 4, 3)
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn(scores, epsilon=0.0)
    with pytest.raises(ValueError, match="iterations"):
        sinkhorn(scores, iterations=0)
    with pytest.raises(ValueError, match="at least 2 views"):
        swapped_prediction([scores], {0: scores})
