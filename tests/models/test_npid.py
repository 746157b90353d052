"""NPID: the loss and the bank's update in the step, learning on real images, the global
batch on 2 replicas, a clear refusal of views without indices, and a save/load round trip."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import losses, models, views
from tests.conftest import (
    assert_round_trip, fit_on_one_and_two_replicas, fixed_views, float64, small_cnn,
    sync_bn_encoder)


def _indexed(images, start=0):
    """Fixed views of ``images`` with their indices ``start, start + 1, ...``."""
    return {**fixed_views(images), "indices": np.arange(start, start + len(images))}


@pytest.mark.parametrize("seed", [0])  # 1 and 2 measured (docstring): one keeps it cheap
def test_loss_falls_and_embeddings_do_not_collapse(seed, fashion_mnist_train):
    """256 images, 120 steps (about 25 s).  Measured over seeds 0-2: the last
    epoch's loss 4.62 / 4.34 / 4.43 against chance log(256) = 5.55 and epoch 2's
    6.54 / 6.34 / 6.42; the spread 0.117 / 0.124 / 0.114 against 0.5 / sqrt(32)
    = 0.088.  After 80 steps the spread was 0.095 / 0.096 / 0.116: too close.

    Epoch 1 scores the views against the bank's random initial vectors (its
    loss, about 11, is no reference); from epoch 2 the bank holds features.
    A collapsed encoder fills the bank with one vector: its loss is then
    exactly the chance value log(N)."""
    keras.utils.set_random_seed(seed)
    augment = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
                                   grayscale_prob=0.0, seed=seed)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:256]),
                            augment, batch_size=64, seed=seed, indices=True)
    model = models.NPID(small_cnn(), num_images=256, projection_dim=32, temperature=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, weight_decay=5e-4))
    history = model.fit(data, epochs=30, verbose=0).history
    loss, spread = history["loss"], history["embedding_std"]
    assert loss[-1] < loss[1] - 0.05 * abs(loss[1]), loss
    assert loss[-1] < np.log(256) - 0.5, loss
    assert spread[-1] > 0.5 / np.sqrt(32), spread


def test_model_loss_is_npid_of_its_projections_and_each_view_then_updates_the_bank(
        fashion_mnist_train):
    images = fashion_mnist_train[0][:16]
    model = models.NPID(small_cnn(), num_images=40, projection_dim=8, temperature=0.2,
                        momentum=0.3, proximal=2.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the step changes the bank only
    x = _indexed(images, start=20)
    bank = model.bank.values.numpy()
    both = np.concatenate(x["global"])  # one call: batch norm sees both views, as in the step
    projections = np.split(model.projector(model.encoder(both, training=True)).numpy(), 2)
    value, _ = model.compute_objective(
        {"global": tuple(map(tf.constant, x["global"])), "indices": tf.constant(x["indices"])},
        training=True)
    expected = np.mean([float(losses.npid(z, x["indices"], bank, 0.2, proximal=2.0))
                        for z in projections])
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)

    model.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0)
    for z in projections:  # view 1's visit, then view 2's
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        mixed = 0.3 * bank[20:36] + 0.7 * z
        bank[20:36] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    np.testing.assert_allclose(model.bank.values.numpy(), bank, rtol=1e-5, atol=1e-6)


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    """Loss, every weight and the bank after one step agree (float32, sync BN, to
    conftest.replica_tolerance)."""
    images = fashion_mnist_train[0][:16, 8:20, 8:20]
    dataset = tf.data.Dataset.from_tensors(_indexed(images, start=3))

    def build():
        model = models.NPID(sync_bn_encoder((12, 12, 1)), num_images=24, projection_dim=16)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    single, _, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    moved = [not np.allclose(a, b) for a, b, w in zip(start, single.get_weights(),
                                                      single.weights)
             if "memory_bank" in w.path]
    assert moved == [True]  # the bank took the step (the comparison is not vacuous)


def test_views_without_indices_are_refused_before_training(fashion_mnist_train):
    model = models.NPID(small_cnn(), num_images=64, projection_dim=16)
    model.compile(optimizer="sgd")
    plain = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:64]),
                             lambda x: x, batch_size=32)
    with pytest.raises(ValueError, match=r"views\['indices'\] is missing.*indices=True"):
        model.fit(plain, epochs=1, verbose=0)


def test_a_bank_smaller_than_the_data_is_refused_before_training(fashion_mnist_train):
    model = models.NPID(small_cnn(), num_images=50, projection_dim=16)
    model.compile(optimizer="sgd")
    data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:64]),
                            lambda x: x, batch_size=32, indices=True)
    with pytest.raises(ValueError, match="num_images=50 entries, but the views hold at least 64"):
        model.fit(data, epochs=1, verbose=0)
    # views of several epochs (make_views(epochs=...)): the bank holds one epoch's images
    two_epochs = views.make_views(tf.data.Dataset.from_tensor_slices(
        fashion_mnist_train[0][:64]), lambda x: x, batch_size=32, indices=True, epochs=2)
    fits = models.NPID(small_cnn(), num_images=64, projection_dim=16)
    fits.check_views(two_epochs, steps_per_epoch=2)
    with pytest.raises(ValueError, match="at least 128 images an epoch"):
        fits.check_views(two_epochs)


def test_round_trip(tmp_path, fashion_mnist_train):
    model = models.NPID(small_cnn(), num_images=48, projection_dim=16, temperature=0.2,
                        momentum=0.25, proximal=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    images = fashion_mnist_train[0][:32]
    model.fit(tf.data.Dataset.from_tensors(_indexed(images, start=8)), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / "npid.keras"), images[:4])
    assert (restored.num_images, restored.momentum, restored.proximal) == (48, 0.25, 1.0)
    np.testing.assert_array_equal(restored.bank.values.numpy(), model.bank.values.numpy())
