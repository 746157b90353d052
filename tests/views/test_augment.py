"""Tests of keras_contrastive/views/augment.py."""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import RandomApply, RandomResizedCrop, simclr_augment


def _gray(fashion_mnist_train, n=256):
    return np.asarray(fashion_mnist_train[0][:n], dtype="float32") / 255.0


def _colour(fashion_mnist_train, n=256):
    """Real Fashion-MNIST images tinted differently per channel: RGB content."""
    gray = _gray(fashion_mnist_train, n)
    return np.concatenate([gray, 0.6 * gray, 1.0 - 0.5 * gray], axis=-1)


def _layer_types(augment):
    return [type(layer).__name__ for layer in augment.layers]


def test_quality_protocol_is_crop_flip_and_brightness_contrast_jitter():
    augment = simclr_augment(
        28, channels=1, strength=0.5, crop_scale=(0.2, 1.0), grayscale_prob=0.0
    )
    assert isinstance(augment, keras.Sequential)
    assert _layer_types(augment) == ["RandomResizedCrop", "RandomFlip", "RandomApply"]
    crop, flip, maybe_jitter = augment.layers
    assert (crop.height, crop.width, crop.scale) == (28, 28, (0.2, 1.0))
    assert flip.mode == "horizontal"
    assert maybe_jitter.rate == 0.8
    jitter = maybe_jitter.layer
    assert isinstance(jitter, keras.layers.RandomColorJitter)
    assert jitter.saturation_factor is None and jitter.hue_factor is None
    # Keras' own parsing of the factors: brightness delta U(-0.4, 0.4) (of the
    # [0, 1] range), contrast factor U(1 - 0.4, 1 + 0.4).
    np.testing.assert_allclose(jitter.random_brightness.factor, (-0.4, 0.4))
    np.testing.assert_allclose(jitter.random_contrast.factor, (0.4, 0.4))
    assert list(jitter.random_brightness.value_range) == [0, 1]


def test_jitter_darkens_and_brightens_lowers_and_raises_contrast(fashion_mnist_train):
    images = _gray(fashion_mnist_train)
    augment = simclr_augment(28, channels=1, strength=0.5, grayscale_prob=0.0)
    jitter = augment.layers[2].layer
    brighter = jitter.random_brightness(images, training=True).numpy()
    shift = brighter.mean(axis=(1, 2, 3)) - images.mean(axis=(1, 2, 3))
    assert shift.min() < -0.1 and shift.max() > 0.1
    contrasted = jitter.random_contrast(images, training=True).numpy()
    ratio = contrasted.std(axis=(1, 2, 3)) / images.std(axis=(1, 2, 3))
    assert ratio.min() < 0.7 and ratio.max() > 1.1
    assert ratio.min() >= 0.6 - 1e-3


def test_strength_one_maps_to_torchvision_saturation_and_hue_ranges():
    augment = simclr_augment(32, channels=3, strength=1.0)
    assert _layer_types(augment) == [
        "RandomResizedCrop", "RandomFlip", "RandomApply", "RandomGrayscale",
    ]
    jitter = augment.layers[2].layer
    np.testing.assert_allclose(jitter.random_brightness.factor, (-0.8, 0.8))
    np.testing.assert_allclose(jitter.random_contrast.factor, (0.8, 0.8))
    # Keras multiplies saturation by f / (1 - f): [0.2, 1.8] as torchvision's 0.8.
    low, high = jitter.random_saturation.factor
    multipliers = [low / (1 - low), high / (1 - high)]
    np.testing.assert_allclose(multipliers, [0.2, 1.8], rtol=1e-6)
    # Keras shifts hue by +-f / 2: up to 0.2 as torchvision's hue=0.2.
    np.testing.assert_allclose(jitter.random_hue.factor, (0.0, 0.4))
    assert augment.layers[3].factor == 0.2


def test_single_channel_pipeline_runs_on_real_images_and_stays_in_unit_range(
    fashion_mnist_train,
):
    images = _gray(fashion_mnist_train)
    augment = simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
                             grayscale_prob=0.0, seed=0)
    v1, v2 = augment(images).numpy(), augment(images).numpy()
    assert v1.shape == (256, 28, 28, 1) and v1.dtype == np.float32
    assert v1.min() >= 0.0 and v1.max() <= 1.0
    assert np.abs(v1 - v2).mean() > 0.05
    assert np.abs(v1 - images).mean(axis=(1, 2, 3)).min() > 0.0


def test_rgb_pipeline_with_blur_and_solarization_runs(fashion_mnist_train):
    images = _colour(fashion_mnist_train)
    augment = simclr_augment((24, 20), channels=3, blur_prob=0.5,
                             solarize_prob=0.2, seed=1)
    assert _layer_types(augment)[-2:] == ["RandomApply", "RandomApply"]
    views = augment(images).numpy()
    assert views.shape == (256, 24, 20, 3) and views.dtype == np.float32
    assert views.min() >= 0.0 and views.max() <= 1.0
    # Grayscale (p = 0.2) turns some views gray, the rest keep their colour.
    gray = np.all(np.isclose(views[..., :1], views), axis=(1, 2, 3))
    assert 10 < gray.sum() < 150


def test_blur_kernel_is_a_tenth_of_the_image_and_odd():
    def kernel(size):
        augment = simclr_augment(size, blur_prob=0.5)
        return augment.get_layer("random_gaussian_blur").layer.kernel_size

    assert kernel(28) == (3, 3)
    assert kernel(64) == (7, 7)
    assert kernel(224) == (23, 23)


def test_solarization_threshold_is_fixed_at_one_half():
    augment = simclr_augment(8, solarize_prob=1.0)
    solarize = augment.get_layer("random_solarization").layer
    values = np.array([0.1, 0.3, 0.49, 0.51, 0.7, 0.9], "float32")
    images = np.tile(values[None, None, None, :], (64, 2, 2, 1))
    out = solarize(images, training=True).numpy()
    expected = np.where(values < 0.5, values, 1.0 - values)
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1e-6)


def test_jitter_and_grayscale_are_random_inside_tf_data(fashion_mnist_train):
    images = _colour(fashion_mnist_train, 64)
    augment = simclr_augment(28, crop_scale=(1.0, 1.0), flip=False)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(64).map(
        lambda x: (augment(x), augment(x))
    )
    (a1, b1), = [(a.numpy(), b.numpy()) for a, b in ds]
    (a2, _), = [(a.numpy(), b.numpy()) for a, b in ds]
    assert not np.allclose(a1, b1) and not np.allclose(a1, a2)


def test_serialization_round_trip_rebuilds_a_working_pipeline(fashion_mnist_train):
    augment = simclr_augment(28, channels=3, blur_prob=0.5, solarize_prob=0.2, seed=3)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(augment)
    )
    assert _layer_types(restored) == _layer_types(augment)
    assert isinstance(restored.layers[0], RandomResizedCrop)
    assert isinstance(restored.layers[2], RandomApply)
    assert restored.layers[0].get_config() == augment.layers[0].get_config()
    assert restored.layers[2].get_config() == augment.layers[2].get_config()
    views = restored(_colour(fashion_mnist_train, 8))
    assert views.shape == (8, 28, 28, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_size=0), "image_size=0"),
        (dict(image_size=(28, 0)), "image_size=(28, 0)"),
        (dict(image_size=28, channels=2), "channels=2"),
        (dict(image_size=28, strength=2.0), "strength=2.0"),
        (dict(image_size=28, strength=-0.5), "strength=-0.5"),
        (dict(image_size=28, jitter_prob=1.5), "jitter_prob=1.5"),
        (dict(image_size=28, grayscale_prob=-1), "grayscale_prob=-1"),
        (dict(image_size=28, blur_prob=2), "blur_prob=2"),
        (dict(image_size=28, solarize_prob="x"), "solarize_prob='x'"),
        (dict(image_size=28, flip="yes"), "flip='yes'"),
        (dict(image_size=28, crop_scale=(0.5, 0.1)), "scale=(0.5, 0.1)"),
    ],
)
def test_invalid_arguments_raise_naming_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        simclr_augment(**kwargs)
