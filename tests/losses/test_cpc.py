"""CPC's InfoNCE against a NumPy transcription, on 1 and 2 replicas."""
import numpy as np
import tensorflow as tf

from keras_contrastive.losses import cpc_nce


def numpy_cpc_nce(predictions, positive_index, candidates):
    p, z = np.asarray(predictions, np.float64), np.asarray(candidates, np.float64)
    losses = []
    for m in range(len(p)):
        scores = np.array([p[m] @ z[n] for n in range(len(z))])
        losses.append(-np.log(np.exp(scores[positive_index[m]]) / np.exp(scores).sum()))
    return np.mean(losses)


def test_cpc_nce_equals_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 8)).astype(np.float32)
    p = rng.normal(size=(11, 8)).astype(np.float32)
    index = rng.integers(0, 20, size=11)
    np.testing.assert_allclose(float(cpc_nce(p, index, z)), numpy_cpc_nce(p, index, z), rtol=1e-5)


def test_two_replicas_score_against_every_replicas_patches(two_replicas):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(12, 4)).astype(np.float32)
    p = rng.normal(size=(8, 4)).astype(np.float32)
    local_index = np.array([0, 5, 2, 3, 1, 4, 5, 0])  # within each replica's 6 patches

    def shard(x, size):
        return two_replicas.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * size:
                          (ctx.replica_id_in_sync_group + 1) * size])

    values = tf.function(lambda a, b, c: two_replicas.run(cpc_nce, args=(a, b, c)))(
        shard(p, 4), shard(local_index, 4), shard(z, 6))
    global_index = local_index + np.repeat([0, 6], 4)
    mean = np.mean([float(v) for v in two_replicas.experimental_local_results(values)])
    np.testing.assert_allclose(mean, numpy_cpc_nce(p, global_index, z), rtol=1e-5)
