"""SupCon against an independent NumPy transcription of Khosla et al.'s eq. 2 (L_out)."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import nt_xent, supcon


def numpy_supcon(views, labels, temperature):
    """Eq. 2, anchor by anchor, over the multiviewed batch I = all views of all images."""
    z = np.concatenate([np.asarray(v, np.float64) for v in views])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = np.tile(np.asarray(labels), len(views))
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        denominator = sum(np.exp(z[i] @ z[a] / temperature) for a in others)
        positives = [p for p in others if y[p] == y[i]]
        losses.append(-np.mean([np.log(np.exp(z[i] @ z[p] / temperature) / denominator)
                                for p in positives]))
    return np.mean(losses)


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
@pytest.mark.parametrize("num_views,n,classes", [(2, 8, 3), (3, 6, 2), (2, 5, 5)])
def test_supcon_equals_numpy(temperature, num_views, n, classes):
    rng = np.random.default_rng(num_views * 10 + n)
    base = rng.normal(size=(n, 16))
    views = [(base + 0.5 * rng.normal(size=(n, 16))).astype(np.float32)
             for _ in range(num_views)]
    labels = rng.integers(0, classes, size=n)
    np.testing.assert_allclose(float(supcon(views, labels, temperature)),
                               numpy_supcon(views, labels, temperature), rtol=1e-5, atol=1e-5)


def test_distinct_labels_give_nt_xent():
    rng = np.random.default_rng(0)
    z_a, z_b = (rng.normal(size=(10, 8)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(float(supcon([z_a, z_b], np.arange(10), 0.2)),
                               float(nt_xent(z_a, z_b, 0.2)), rtol=1e-6)


def test_two_replicas_see_positives_and_negatives_of_the_global_batch(two_replicas):
    """Replica 1's anchors have positives only on replica 0 (labels 0..5 twice)."""
    rng = np.random.default_rng(3)
    views = [rng.normal(size=(12, 8)).astype(np.float32) for _ in range(2)]
    labels = np.concatenate([np.arange(6), np.arange(6)])

    def shard(x):
        return two_replicas.experimental_distribute_values_from_function(
            lambda ctx: x[ctx.replica_id_in_sync_group * 6:(ctx.replica_id_in_sync_group + 1) * 6])

    per_replica = tf.function(lambda a, b, y: two_replicas.run(
        lambda a, b, y: supcon([a, b], y, 0.1), args=(a, b, y)))(
            shard(views[0]), shard(views[1]), shard(labels))
    values = [float(v) for v in two_replicas.experimental_local_results(per_replica)]
    # each replica's value is the mean over its anchors: their mean is the global loss
    np.testing.assert_allclose(np.mean(values), numpy_supcon(views, labels, 0.1), rtol=1e-5)


def test_bad_arguments_are_refused():
    z = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="at least 2 views"):
        supcon([z], np.zeros(4))
    with pytest.raises(ValueError, match="temperature"):
        supcon([z, z], np.zeros(4), temperature=0.0)
