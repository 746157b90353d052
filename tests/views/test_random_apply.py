"""Tests of keras_contrastive/views/random_apply.py."""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import RandomApply


@pytest.fixture
def images(fashion_mnist_train):
    return np.asarray(fashion_mnist_train[0][:500], dtype="float32") / 255.0


def _applied(inputs, outputs):
    """Per sample: True where `outputs` is the halved input, False where unchanged."""
    halved = np.all(np.isclose(outputs, 0.5 * inputs), axis=(1, 2, 3))
    kept = np.all(outputs == inputs, axis=(1, 2, 3))
    assert np.all(halved ^ kept), "each sample is either transformed or unchanged"
    return halved


def test_each_sample_is_transformed_with_probability_rate(images):
    layer = RandomApply(keras.layers.Rescaling(0.5), rate=0.3, seed=1)
    applied = np.concatenate(
        [_applied(images, layer(images).numpy()) for _ in range(8)]
    )
    assert abs(applied.mean() - 0.3) < 0.03  # 4,000 Bernoulli(0.3) draws


@pytest.mark.parametrize("rate, expected", [(0.0, False), (1.0, True)])
def test_rate_zero_is_identity_and_rate_one_always_applies(images, rate, expected):
    outputs = RandomApply(keras.layers.Rescaling(0.5), rate=rate)(images).numpy()
    assert np.all(_applied(images, outputs) == expected)


def test_inference_returns_input_unchanged(images):
    layer = RandomApply(keras.layers.Rescaling(0.5), rate=1.0)
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_single_image_is_a_batch_of_one(images):
    layer = RandomApply(keras.layers.Rescaling(0.5), rate=0.5, seed=0)
    outputs = np.stack([layer(images[0]).numpy() for _ in range(40)])
    assert outputs.shape == (40, 28, 28, 1)
    applied = _applied(np.repeat(images[:1], 40, axis=0), outputs)
    assert 0 < applied.sum() < 40


def test_mask_differs_per_call_and_per_epoch_inside_tf_data(images):
    layer = RandomApply(keras.layers.Rescaling(0.5), rate=0.5)
    ds = tf.data.Dataset.from_tensor_slices(images[:64]).batch(64).map(
        lambda x: (layer(x), layer(x))
    )
    (a1, b1), = [(a.numpy(), b.numpy()) for a, b in ds]
    (a2, _), = [(a.numpy(), b.numpy()) for a, b in ds]
    masks = [_applied(images[:64], out) for out in (a1, b1, a2)]
    assert 0 < masks[0].sum() < 64
    assert (masks[0] != masks[1]).any() and (masks[0] != masks[2]).any()


def test_wraps_a_random_keras_layer(images):
    jitter = keras.layers.RandomColorJitter(
        value_range=(0, 1), brightness_factor=0.4, contrast_factor=0.4, seed=0
    )
    outputs = RandomApply(jitter, rate=0.5, seed=0)(images[:64]).numpy()
    changed = ~np.all(outputs == images[:64], axis=(1, 2, 3))
    assert 10 < changed.sum() < 54
    assert outputs.min() >= 0.0 and outputs.max() <= 1.0


def test_get_config_serializes_the_wrapped_layer():
    layer = RandomApply(
        keras.layers.RandomBrightness(0.3, value_range=(0, 1), seed=2),
        rate=0.25,
        seed=4,
        name="maybe_brightness",
    )
    config = layer.get_config()
    assert config["rate"] == 0.25 and config["seed"] == 4
    assert config["layer"]["class_name"] == "RandomBrightness"
    from_config = RandomApply.from_config(config)
    assert isinstance(from_config.layer, keras.layers.RandomBrightness)
    assert from_config.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, RandomApply)
    assert restored.layer.get_config() == layer.layer.get_config()
    assert restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer="flip"), "layer='flip'"),
        (dict(layer=keras.layers.Rescaling(0.5), rate=1.5), "rate=1.5"),
        (dict(layer=keras.layers.Rescaling(0.5), rate=-0.1), "rate=-0.1"),
        (dict(layer=keras.layers.Rescaling(0.5), seed=1.5), "seed=1.5"),
    ],
)
def test_invalid_arguments_raise_naming_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomApply(**kwargs)
