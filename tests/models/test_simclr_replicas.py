"""One SimCLR step on 2 replicas equals one step on 1 replica (same global batch)."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, models
from tests.conftest import fit_on_one_and_two_replicas, fixed_views, sync_bn_encoder


def _build(strategy, initial_weights=None, size=16):
    with strategy.scope():
        encoder = backbones.resnet18((size, size, 1), width=4, synchronized_bn=True)
        model = models.SimCLR(encoder, projection_dim=16, temperature=0.2, synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        if initial_weights is not None:
            model.set_weights(initial_weights)
    return model


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    """Loss and every weight agree in float32, to ``replica_tolerance`` (512
    roundoffs of the step's size), with global BN in the encoder and the head."""
    images = fashion_mnist_train[0][:16, 8:20, 8:20]
    dataset = tf.data.Dataset.from_tensors(fixed_views(images, 0))

    def build():
        model = models.SimCLR(sync_bn_encoder((12, 12, 1)), projection_dim=16,
                              temperature=0.2, synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    single, _, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    assert sum(not np.allclose(a, b) for a, b in zip(single.get_weights(), start)) > 4


def test_resnet_step_on_two_replicas_is_exact_in_float64(fashion_mnist_train, two_replicas):
    """A ResNet-18 (width 4, global BN) step: loss, health metric and every weight
    agree to 1e-5 in float64.

    float64, because a ResNet step amplifies float32 rounding on any number of
    replicas: on 64 random crops the float32 step on one replica differs from
    the exact one by 6.6e-4 of its largest change, and from itself with the
    batch reversed by as much as from the 2-replica step (docs/RELIABILITY.md,
    "Replicas").  float64 removes the rounding, so what is compared is the
    arithmetic of the distributed step itself.
    """
    keras.config.set_floatx("float64")
    try:
        views = fixed_views(fashion_mnist_train[0][:16, 6:22, 6:22], 0)
        dataset = tf.data.Dataset.from_tensors(views)
        single = _build(tf.distribute.get_strategy())
        start = [w.copy() for w in single.get_weights()]
        mirrored = _build(two_replicas, initial_weights=start)
        history_single = single.fit(dataset, epochs=1, verbose=0).history
        history_mirrored = mirrored.fit(dataset, epochs=1, verbose=0).history
    finally:
        keras.config.set_floatx("float32")
    for key in ("loss", "embedding_std"):
        np.testing.assert_allclose(history_mirrored[key], history_single[key], atol=1e-5)
    moved = 0
    for before, a, b in zip(start, single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-5)
        moved += not np.allclose(a, before)
    # the step changed the weights (so the comparison is not vacuous)
    assert moved > len(start) // 2
