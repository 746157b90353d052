"""augment_on="device": the model makes the views inside its step with the same
ViewMaker that make_views maps over the data."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_contrastive import models, views
from tests.conftest import (
    assert_round_trip, fit_on_one_and_two_replicas, float64, small_cnn, sync_bn_encoder)


def _data(images, maker, augment_on, batch_size=32):
    """Batches in their order (make_views lets them overtake each other by default)."""
    return views.make_views(tf.data.Dataset.from_tensor_slices(images), maker,
                            batch_size=batch_size, shuffle_buffer=0, augment_on=augment_on,
                            deterministic=True)


class Shade(keras.layers.Layer):
    """A deterministic 'augmentation' (a fixed brightness scaling), so both
    paths must give the very same views."""

    def call(self, images, training=False):
        return images * 0.8


def test_device_mode_yields_images_and_the_model_makes_the_views(fashion_mnist_train):
    images = fashion_mnist_train[0][:64]
    maker = views.ViewMaker(views.simclr_augment(28, channels=1, seed=0), num_views=2)
    data = _data(images, maker, "device")
    assert set(data.element_spec) == {"images"}
    assert data.element_spec["images"].shape.as_list() == [32, 28, 28, 1]
    model = models.SimCLR(small_cnn(), projection_dim=16, device_views=maker)
    made = model._unpack(next(iter(data)))
    assert [tuple(v.shape) for v in made["global"]] == [(32, 28, 28, 1)] * 2


def test_same_training_on_the_data_and_on_the_device(fashion_mnist_train):
    images = fashion_mnist_train[0][:128]

    def train(augment_on):
        keras.utils.set_random_seed(0)
        maker = views.ViewMaker(Shade(), num_views=2)
        model = models.SimCLR(small_cnn(), projection_dim=16,
                              device_views=maker if augment_on == "device" else None)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        history = model.fit(_data(images, maker, augment_on), epochs=2, verbose=0).history
        return history["loss"], model.get_weights()

    loss_data, weights_data = train("data")
    loss_device, weights_device = train("device")
    np.testing.assert_allclose(loss_device, loss_data, rtol=1e-6)
    for a, b in zip(weights_data, weights_device):
        np.testing.assert_allclose(b, a, atol=1e-6)


def test_random_views_have_the_same_distribution_both_ways(fashion_mnist_train):
    """Brightness of a view (its mean) and its spread (std) over 2,000 images, made by
    tf.data and by a compiled step: two-sample Kolmogorov-Smirnov tests."""
    images = fashion_mnist_train[0][:2000].astype("float32") / 255.0
    maker = views.ViewMaker(views.simclr_augment(28, channels=1, strength=0.5, seed=0))
    by_data = [v for batch in _data(images, maker, "data", 100) for v in batch["global"]]
    step = tf.function(lambda x: maker(x)["global"])
    by_device = [v for batch in _data(images, maker, "device", 100) for v in step(
        batch["images"])]
    for statistic in (lambda v: np.mean(v, axis=(1, 2, 3)), lambda v: np.std(v, axis=(1, 2, 3))):
        a = np.concatenate([statistic(v.numpy()) for v in by_data])
        b = np.concatenate([statistic(v.numpy()) for v in by_device])
        assert len(a) == len(b) == 4000
        assert stats.ks_2samp(a, b).pvalue > 0.001
    # and the views are random, not the images themselves
    assert not np.allclose(by_device[0].numpy(), images[:100])


def test_device_views_on_two_replicas_equal_one_replica(fashion_mnist_train, two_replicas):
    images = fashion_mnist_train[0][:64]
    with float64():
        def build():
            model = models.SimCLR(sync_bn_encoder((28, 28, 1)), projection_dim=8,
                                  synchronized_bn=True,
                                  device_views=views.ViewMaker(Shade()))
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            return model

        data = views.make_views(tf.data.Dataset.from_tensor_slices(images), Shade(),
                                batch_size=32, shuffle_buffer=0, augment_on="device")
        fit_on_one_and_two_replicas(build, data, two_replicas)


def test_multi_crop_and_labels_on_the_device(fashion_mnist_train):
    images, labels = fashion_mnist_train[0][:64], fashion_mnist_train[1][:64]
    maker = views.ViewMaker(views.MultiCrop(28, 12, num_local=2, channels=1, seed=0))
    model = models.SupCon(small_cnn((None, None, 1)), projection_dim=8, device_views=maker)
    model.compile(optimizer="sgd")
    data = views.make_views(tf.data.Dataset.from_tensor_slices((images, labels)), maker,
                            batch_size=32, labels=True, augment_on="device")
    assert set(data.element_spec) == {"images", "labels"}
    with pytest.raises(ValueError, match="SupCon does not use multi-crop local views"):
        model.fit(data, epochs=1, verbose=0)  # the views' spec is checked before training
    maker = views.ViewMaker(views.MultiCrop(28, 12, num_local=2, channels=1, seed=0))
    moco = models.MoCo(small_cnn((None, None, 1)), queue_size=64, projection_dim=8,
                       hidden_dim=16, device_views=maker)
    moco.compile(optimizer="sgd")
    history = moco.fit(_data(images, maker, "device"), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert int(moco.queue.pointer.numpy()) == 0  # 2 batches of 32 global keys, not local ones


def test_round_trip_keeps_the_view_maker(fashion_mnist_train, tmp_path):
    images = fashion_mnist_train[0][:64]
    maker = views.ViewMaker(views.simclr_augment(28, channels=1, seed=0), num_views=3)
    model = models.SimCLR(small_cnn(), projection_dim=8, device_views=maker)
    model.compile(optimizer="sgd")
    model.fit(_data(images, maker, "device"), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / "simclr.keras"), images[:4])
    assert isinstance(restored.device_views, views.ViewMaker)
    assert restored.device_views.num_views == 3


def test_images_without_device_views_or_with_the_wrong_channels_are_refused(fashion_mnist_train):
    images = fashion_mnist_train[0][:64]
    data = _data(images, views.ViewMaker(Shade()), "device")
    model = models.SimCLR(small_cnn(), projection_dim=8)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="SimCLR has no device_views to make views of them"):
        model.fit(data, epochs=1, verbose=0)
    rgb = models.SimCLR(small_cnn(), projection_dim=8,
                        device_views=views.simclr_augment(28, channels=3))
    rgb.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"SimCLR.device_views cannot make views of images "
                                         r"\[32, 28, 28, 1\]"):
        rgb.fit(data, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="`augment_on` must be 'data' or 'device'"):
        _data(images, Shade(), "gpu")
