"""GlobalBatchNormalization: two-pass statistics over the global batch."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.layers import GlobalBatchNormalization, batch_normalization


def _split(strategy, x):
    half = len(x) // 2
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: x[ctx.replica_id_in_sync_group * half:(ctx.replica_id_in_sync_group + 1) * half]
    )


def _numpy_batch_norm(x, gamma, beta, epsilon):
    """Batch norm of the paper (Ioffe & Szegedy 2015) over all but the last axis, float64."""
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    variance = ((x - mean) ** 2).mean(axis=axes)  # biased, as in training
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta, mean, variance


def _run_on_replicas(strategy, layer, x):
    values = _split(strategy, x)
    out = tf.function(lambda v: strategy.run(lambda t: layer(t, training=True), args=(v,)))(values)
    return np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (10.0, 0.01)])
def test_two_replicas_match_numpy_and_single_device_accuracy(mean, std, two_replicas):
    """On 2 replicas the output is as close to the float64 formula as one device's.

    ``(10, 0.01)`` is where E[x^2] - E[x]^2 cancels catastrophically in float32
    (Keras' ``BatchNormalization(synchronized=True)`` is off by units there);
    two passes keep the error at the single-device layer's level.
    """
    x = np.random.default_rng(0).normal(mean, std, (16, 50, 3)).astype("float32")
    reference, _, _ = _numpy_batch_norm(x, 1.0, 0.0, 1e-5)

    single = keras.layers.BatchNormalization(epsilon=1e-5)
    single_error = np.abs(single(x, training=True).numpy() - reference).max()

    strategy = two_replicas
    with strategy.scope():
        layer = GlobalBatchNormalization(epsilon=1e-5)
        layer.build(x.shape)
    distributed_error = np.abs(_run_on_replicas(strategy, layer, x) - reference).max()
    assert distributed_error <= max(2 * single_error, 1e-5), (distributed_error, single_error)


def test_moving_statistics_follow_the_global_batch(two_replicas):
    x = np.random.default_rng(1).normal(2.0, 3.0, (8, 4)).astype("float32")
    _, mean, variance = _numpy_batch_norm(x, 1.0, 0.0, 1e-5)
    strategy = two_replicas
    with strategy.scope():
        layer = GlobalBatchNormalization(momentum=0.0, epsilon=1e-5)
        layer.build(x.shape)
    _run_on_replicas(strategy, layer, x)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-5)


def test_gradient_on_two_replicas_equals_one_device(two_replicas):
    """Backward through the cross-replica sums: d(loss)/dx as on one device."""
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 2.0, (8, 6)).astype("float32")
    w = rng.normal(size=(8, 6)).astype("float32")

    single = GlobalBatchNormalization(epsilon=1e-5)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(single(xt, training=True) * w)
    expected = tape.gradient(loss, xt).numpy()

    strategy = two_replicas
    with strategy.scope():
        layer = GlobalBatchNormalization(epsilon=1e-5)
        layer.build(x.shape)

    def replica_grad(x_local):
        ctx = tf.distribute.get_replica_context()
        start = ctx.replica_id_in_sync_group * 4
        w_local = tf.constant(w)[start:start + 4]
        with tf.GradientTape() as tape:
            tape.watch(x_local)
            loss = tf.reduce_sum(layer(x_local, training=True) * w_local)
        return tape.gradient(loss, x_local)

    out = tf.function(lambda v: strategy.run(replica_grad, args=(v,)))(_split(strategy, x))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])
    # each replica differentiates its own slice of the global loss; the sum's
    # gradient w.r.t. x is the same as on one device
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_serialization_round_trip():
    layer = GlobalBatchNormalization(momentum=0.9, epsilon=1e-5, center=False)
    config = layer.get_config()
    assert "synchronized" not in config
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, GlobalBatchNormalization)
    assert clone.get_config() == config


def test_factory_picks_the_layer():
    assert type(batch_normalization(False, epsilon=1e-5)) is keras.layers.BatchNormalization
    assert isinstance(batch_normalization(True, epsilon=1e-5), GlobalBatchNormalization)
