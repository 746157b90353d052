"""SwAV: learns on real images, equal on 1 and 2 replicas (with and without the queue),
frozen then moving unit prototypes, multi-crop views, state through save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import losses, models
from tests.conftest import (
    assert_round_trip, crop_views, fit_crop_views, fit_on_one_and_two_replicas, fixed_views,
    small_cnn, sync_bn_encoder)


def _swav(encoder, **kwargs):
    return models.SwAV(encoder, **{"projection_dim": 32, "hidden_dim": 64, "num_prototypes": 30,
                                   **kwargs})


def test_loss_falls_and_embeddings_do_not_collapse(fashion_mnist_train):
    keras.utils.set_random_seed(0)
    model = _swav(small_cnn())
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    # The loss sits near log(K) (uniform predictions) for a few epochs and then falls; how
    # long the plateau lasts varies with the views (12 epochs fell 7.5% here and 2.9% on CI,
    # on views that then differed from run to run: the racing seed state fit_crop_views
    # now avoids). 24 epochs fell 15-21% for seeds 0-3 here.
    history = fit_crop_views(model, fashion_mnist_train[0][:1024], 24)
    loss, spread = history["loss"], history["embedding_std"]
    # the prototypes are frozen in epoch 1: compare with epoch 2
    assert loss[-1] < loss[1] - 0.05 * abs(loss[1]), loss
    assert spread[-1] > 0.5 / np.sqrt(32), spread


@pytest.mark.parametrize("queue_length", [0, 32])
def test_two_replica_step_equals_one_replica_step(queue_length, fashion_mnist_train,
                                                 two_replicas):
    """Three steps (the third with the queue, filled by the first two, when there is
    one), float32 (``replica_tolerance``), sync BN."""
    images = fashion_mnist_train[0][:48, 8:20, 8:20]
    batches = [fixed_views(images[i:i + 16], i) for i in (0, 16, 32)]
    dataset = tf.data.Dataset.from_tensor_slices(
        {"global": tuple(np.stack([b["global"][v] for b in batches]) for v in range(2))})

    def build():
        model = _swav(sync_bn_encoder((12, 12, 1)), synchronized_bn=True,
                      queue_length=queue_length, freeze_prototypes_epochs=0)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    single, mirrored, _ = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    if queue_length:  # the queue (compared above with every variable) was used in step 3
        assert int(single.queue_filled.numpy()) == int(mirrored.queue_filled.numpy()) == 1


def test_prototypes_stay_frozen_for_the_first_epoch_and_unit_norm(fashion_mnist_train):
    model = _swav(small_cnn(), freeze_prototypes_epochs=1)
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
    initial = model.prototypes.kernel.numpy().copy()
    np.testing.assert_allclose(np.linalg.norm(initial, axis=0), 1.0, rtol=1e-6)
    data = crop_views(fashion_mnist_train[0][:256])  # 4 steps per epoch
    model.fit(data, epochs=1, verbose=0)
    np.testing.assert_allclose(model.prototypes.kernel.numpy(), initial, atol=1e-6)
    model.fit(data, epochs=1, verbose=0)
    moved = model.prototypes.kernel.numpy()
    assert np.abs(moved - initial).max() > 1e-3
    np.testing.assert_allclose(np.linalg.norm(moved, axis=0), 1.0, rtol=1e-5)


def test_loss_with_local_views_is_the_swapped_prediction_of_all_views(fashion_mnist_train):
    """Codes come from the two global views only; every view (global and local) predicts."""
    model = _swav(small_cnn((None, None, 1)))
    x = fixed_views(fashion_mnist_train[0][:16])
    small = tf.image.resize(x["global"][0], (14, 14))
    views = {"global": tuple(map(tf.constant, x["global"])), "local": (small, small[:, ::-1])}
    value, _ = model.compute_objective(views, training=False)

    def scores(images):
        z = tf.math.l2_normalize(model.projector(model.encoder(images)), axis=1)
        return tf.matmul(z, model.prototypes.kernel)

    all_scores = [scores(v) for v in views["global"] + views["local"]]
    codes = {i: losses.sinkhorn(all_scores[i], 0.05, 3) for i in (0, 1)}
    np.testing.assert_allclose(float(value),
                               float(losses.swapped_prediction(all_scores, codes, 0.1)), rtol=1e-5)


def test_state_survives_save_and_load(tmp_path, fashion_mnist_train):
    model = _swav(small_cnn(), queue_length=128)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(crop_views(fashion_mnist_train[0][:192]), epochs=1, verbose=0)  # 1.5 laps
    restored = assert_round_trip(model, str(tmp_path / "swav.keras"),
                                 fashion_mnist_train[0][:4])
    assert restored.queue_length == 128
    assert int(restored.queues[0].pointer.numpy()) == 192 % 128
    assert int(restored.queue_filled.numpy()) == 1  # the first lap ended after step 2


@pytest.mark.parametrize("kwargs,match", [
    ({"num_prototypes": 0}, "num_prototypes"), ({"epsilon": 0.0}, "epsilon"),
    ({"sinkhorn_iterations": 0}, "iterations"), ({"temperature": -1.0}, "temperature"),
    ({"queue_length": -5}, "queue_length"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _swav(small_cnn(), **kwargs)


def test_queue_length_must_be_a_multiple_of_the_global_batch(fashion_mnist_train):
    model = _swav(small_cnn(), queue_length=100)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="not a multiple of the global batch 64"):
        model.fit(crop_views(fashion_mnist_train[0][:128]), epochs=1, verbose=0)
