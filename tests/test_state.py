"""FeatureQueue (FIFO ring buffer), MemoryBank (NPID) and MomentumEncoder (EMA target) against
their definitions."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.state import FeatureQueue, MemoryBank, MomentumEncoder, cosine_momentum


def _keys(start, n, dim=3):
    return np.arange(start, start + n * dim, dtype=np.float32).reshape(n, dim)


def test_queue_starts_as_random_unit_vectors():
    queue = FeatureQueue(size=32, dim=8, seed=1)
    values = queue.values.numpy()
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)
    assert np.abs(values @ values.T - np.eye(32)).max() < 1.0  # not all the same vector
    assert int(queue.pointer.numpy()) == 0


def test_queue_is_fifo_with_exact_wrap_around():
    queue = FeatureQueue(size=6, dim=3)
    initial = queue.values.numpy()
    batches = [_keys(100 * i, 2) for i in range(5)]
    expected = initial.copy()
    pointer = 0
    for batch in batches:
        queue.enqueue(batch)
        expected[pointer:pointer + 2] = batch
        pointer = (pointer + 2) % 6
        np.testing.assert_array_equal(queue.values.numpy(), expected)
        assert int(queue.pointer.numpy()) == pointer
    # after 5 batches of 2 in a queue of 6: slots hold batches 3, 4, 2 (oldest overwritten first)
    np.testing.assert_array_equal(queue.values.numpy(),
                                  np.concatenate([batches[3], batches[4], batches[2]]))


def test_queue_size_must_be_a_multiple_of_the_global_batch():
    queue = FeatureQueue(size=10, dim=3)
    with pytest.raises(ValueError, match="not a multiple of the global batch 4"):
        queue.enqueue(_keys(0, 4))


@pytest.mark.parametrize("kwargs", [{"size": 0, "dim": 3}, {"size": 4, "dim": 1.5}])
def test_queue_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        FeatureQueue(**kwargs)


def test_queue_on_two_replicas_enqueues_the_global_batch_in_replica_order(two_replicas):
    keys = _keys(0, 4)
    single = FeatureQueue(size=8, dim=3, seed=3)
    single.enqueue(keys)

    with two_replicas.scope():
        queue = FeatureQueue(size=8, dim=3, seed=3)
    values = two_replicas.experimental_distribute_values_from_function(
        lambda ctx: keys[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2])
    tf.function(lambda v: two_replicas.run(queue.enqueue, args=(v,)))(values)
    for replica_value in two_replicas.experimental_local_results(queue.buffer.value):
        np.testing.assert_array_equal(replica_value.numpy(), single.values.numpy())
    assert int(queue.pointer.numpy()) == 4


def test_queue_round_trips_through_config():
    queue = FeatureQueue(size=8, dim=3, seed=5, name="q")
    clone = keras.layers.deserialize(keras.layers.serialize(queue))
    assert isinstance(clone, FeatureQueue)
    assert (clone.size, clone.dim, clone.seed) == (8, 3, 5)


def _bank_update(bank, indices, features, momentum):
    """The paper's v_i <- (m v_i + (1 - m) f_i) / ||.||, f_i normalised, in NumPy."""
    bank = bank.copy()
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    for i, feature in zip(indices, f):
        mixed = momentum * bank[i] + (1 - momentum) * feature
        bank[i] = mixed / np.linalg.norm(mixed)
    return bank


def test_memory_bank_moves_only_the_visited_entries_by_the_momentum_rule():
    bank = MemoryBank(size=6, dim=4, momentum=0.5, seed=2)
    initial = bank.values.numpy()
    np.testing.assert_allclose(np.linalg.norm(initial, axis=1), 1.0, rtol=1e-5)
    features = np.random.default_rng(0).normal(size=(3, 4)).astype("float32") * 5
    bank.update(np.array([4, 0, 2]), features)
    expected = _bank_update(initial, [4, 0, 2], features, 0.5)
    np.testing.assert_allclose(bank.values.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bank.values.numpy()[[1, 3, 5]], initial[[1, 3, 5]])


def test_memory_bank_on_two_replicas_updates_the_global_batch(two_replicas):
    indices = np.array([5, 1, 6, 2])
    features = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    single = MemoryBank(size=8, dim=3, momentum=0.5, seed=3)
    expected = _bank_update(single.values.numpy(), indices, features, 0.5)
    single.update(indices, features)
    np.testing.assert_allclose(single.values.numpy(), expected, rtol=1e-5, atol=1e-6)

    with two_replicas.scope():
        bank = MemoryBank(size=8, dim=3, momentum=0.5, seed=3)
    shares = [two_replicas.experimental_distribute_values_from_function(
        lambda ctx, x=x: x[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2])
        for x in (indices, features)]
    tf.function(lambda i, f: two_replicas.run(bank.update, args=(i, f)))(*shares)
    for replica_value in two_replicas.experimental_local_results(bank.bank.value):
        np.testing.assert_allclose(replica_value.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [({"size": 0, "dim": 3}, "size"),
                                          ({"size": 4, "dim": 3, "momentum": 1.0}, "momentum")])
def test_memory_bank_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MemoryBank(**kwargs)


def test_memory_bank_round_trips_through_config():
    bank = MemoryBank(size=8, dim=3, momentum=0.25, seed=5, name="bank")
    clone = keras.layers.deserialize(keras.layers.serialize(bank))
    assert isinstance(clone, MemoryBank)
    assert (clone.size, clone.dim, clone.momentum, clone.seed) == (8, 3, 0.25, 5)


def _network():
    return keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
        keras.layers.ReLU(), keras.layers.Dense(2),
    ])


def test_ema_update_covers_every_variable_including_batch_norm_statistics():
    online = _network()
    target = MomentumEncoder(online, momentum=0.9)
    rng = np.random.default_rng(0)
    # make target and online differ in every variable (BN moving stats included)
    target.target.set_weights([rng.normal(size=w.shape).astype("float32") ** 2
                               for w in target.target.get_weights()])
    online.set_weights([rng.normal(size=w.shape).astype("float32") ** 2
                        for w in online.get_weights()])
    old_target = [w.copy() for w in target.target.get_weights()]
    names = [w.path for w in online.weights]
    assert any("moving_mean" in n for n in names) and any("moving_variance" in n for n in names)
    target.update(online, step=0)
    for name, old, new_online, updated in zip(names, old_target, online.get_weights(),
                                              target.target.get_weights()):
        np.testing.assert_allclose(updated, 0.9 * old + 0.1 * new_online, atol=1e-6,
                                   err_msg=name)


def test_target_starts_equal_and_gets_no_gradient():
    online = _network()
    target = MomentumEncoder(online, momentum=0.99)
    for a, b in zip(online.get_weights(), target.target.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = tf.constant(np.ones((3, 5), "float32"))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(target(x, training=True))
    assert all(g is None for g in tape.gradient(out, target.target.trainable_variables))
    assert target.trainable_weights == []
    assert len(target.non_trainable_weights) == len(online.weights) + 1  # + total_steps


@pytest.mark.parametrize("step", [0, 1, 250, 500, 999, 1000, 1500])
def test_cosine_momentum_equals_the_byol_formula(step):
    base, total = 0.996, 1000
    expected = 1 - (1 - base) * (math.cos(math.pi * min(step, total) / total) + 1) / 2
    np.testing.assert_allclose(float(cosine_momentum(base, step, total)), expected, atol=1e-7)
    target = MomentumEncoder(_network(), momentum=base, schedule="cosine", total_steps=total)
    np.testing.assert_allclose(float(target.momentum_at(step)), expected, atol=1e-7)


@pytest.mark.parametrize("kwargs,match", [({"momentum": 1.5}, "momentum"),
                                          ({"schedule": "linear"}, "schedule")])
def test_momentum_encoder_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MomentumEncoder(_network(), **kwargs)


def test_momentum_encoder_needs_a_cloneable_network():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Subclassed()
    net(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match="functional or Sequential"):
        MomentumEncoder(net)
