"""One SimCLR step on 2 replicas equals one step on 1 replica (same global batch)."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, models


def _views(images, seed):
    """Two deterministic 'views' of real images: a flip and a brightness shift."""
    rng = np.random.default_rng(seed)
    x = images.astype(keras.config.floatx()) / 255.0
    v1 = x[:, :, ::-1, :]
    v2 = np.clip(x * rng.uniform(0.6, 1.0, size=(len(x), 1, 1, 1)), 0, 1).astype(x.dtype)
    return {"global": (v1, v2)}


def _build(strategy, initial_weights=None):
    with strategy.scope():
        encoder = backbones.resnet18((28, 28, 1), width=4, synchronized_bn=True)
        model = models.SimCLR(encoder, projection_dim=16, temperature=0.2, synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        if initial_weights is not None:
            model.set_weights(initial_weights)
    return model


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    """Loss, health metric and every updated weight agree to 1e-5.

    Runs in float64: in float32 the batch statistics of 2 x 8 and 1 x 16
    examples are sums in a different order, and after the 1/std of each
    BN of a ResNet the rounding reaches a few 1e-5 (even with the two-pass
    ``GlobalBatchNormalization``).  float64 removes the rounding, so what is
    compared is the arithmetic of the distributed step itself.
    """
    keras.config.set_floatx("float64")
    try:
        _compare_one_and_two_replicas(fashion_mnist_train[0], two_replicas)
    finally:
        keras.config.set_floatx("float32")


def _compare_one_and_two_replicas(images, mirrored_strategy):
    views = _views(images[:16], seed=0)
    dataset = tf.data.Dataset.from_tensors(views)

    single = _build(tf.distribute.get_strategy())
    start = [w.copy() for w in single.get_weights()]
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = _build(mirrored_strategy, initial_weights=start)

    history_single = single.fit(dataset, epochs=1, verbose=0)
    history_mirrored = mirrored.fit(dataset, epochs=1, verbose=0)

    np.testing.assert_allclose(
        history_mirrored.history["loss"], history_single.history["loss"], atol=1e-5
    )
    np.testing.assert_allclose(
        history_mirrored.history["embedding_std"],
        history_single.history["embedding_std"], atol=1e-5,
    )
    moved = 0
    for before, a, b in zip(start, single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-5)
        moved += not np.allclose(a, before)
    # the step changed the weights (so the comparison is not vacuous)
    assert moved > len(start) // 2
