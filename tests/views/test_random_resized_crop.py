"""Tests of keras_contrastive/views/random_resized_crop.py."""
import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import RandomResizedCrop


def _unit_float(images):
    return np.asarray(images, dtype="float32") / 255.0


@pytest.mark.parametrize(
    "image_hw, scale, ratio",
    [
        ((28, 28), (0.08, 1.0), (3 / 4, 4 / 3)),
        ((28, 28), (0.2, 1.0), (3 / 4, 4 / 3)),
        ((32, 48), (0.3, 0.6), (0.5, 2.0)),
    ],
)
def test_sampled_boxes_stay_within_scale_ratio_and_image(image_hw, scale, ratio):
    img_h, img_w = image_hw
    crop = RandomResizedCrop(16, 16, scale=scale, ratio=ratio, seed=1)
    raw = crop.sample_boxes(5000, img_h, img_w)
    assert raw.dtype == tf.int32 and raw.shape == (5000, 4)
    boxes = raw.numpy().astype("float64")
    y0, x0, h, w = boxes.T
    # Inside the image.
    assert (h >= 1).all() and (w >= 1).all()
    assert (y0 >= 0).all() and (x0 >= 0).all()
    assert (y0 + h <= img_h).all() and (x0 + w <= img_w).all()
    # Some real-valued (w*, h*) within 0.5 px of (w, h) (the rounding to whole
    # pixels) has w* h* in scale * H W and w* / h* in ratio.
    area = img_h * img_w
    eps = 1e-6
    assert ((w - 0.5) * (h - 0.5) <= scale[1] * area + eps).all()
    assert ((w + 0.5) * (h + 0.5) >= scale[0] * area - eps).all()
    assert ((w - 0.5) / (h + 0.5) <= ratio[1] + eps).all()
    assert ((w + 0.5) / (h - 0.5) >= ratio[0] - eps).all()
    # The draws cover the ranges (not stuck at one size or place).
    fraction = h * w / area
    assert fraction.min() < scale[0] + 0.1 and fraction.max() > scale[1] - 0.1
    assert len(np.unique(boxes, axis=0)) > 500
    assert (y0 == 0).any() and (y0 + h == img_h).any()


@pytest.mark.parametrize(
    "ratio, expected",
    [
        # Too wide to fit: full width, h = round(28 / 5) = 6, centred.
        ((5.0, 6.0), [11, 0, 6, 28]),
        # Too tall to fit: full height, w = round(28 * 0.2) = 6, centred.
        ((1 / 6, 1 / 5), [0, 11, 28, 6]),
    ],
)
def test_fallback_is_central_crop_with_ratio_clamped(ratio, expected):
    crop = RandomResizedCrop(8, 8, scale=(0.9, 1.0), ratio=ratio, seed=0)
    boxes = crop.sample_boxes(200, 28, 28).numpy()
    np.testing.assert_array_equal(boxes, np.tile(expected, (200, 1)))


def test_crop_output_is_the_pixels_of_the_sampled_box(fashion_mnist_train):
    images = _unit_float(fashion_mnist_train[0][:32])
    # scale 0.25 and ratio 1 force 14x14 boxes; a 14x14 output samples
    # exactly their pixels.  Two layers with one seed share their stream.
    kwargs = dict(scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=7)
    boxes = RandomResizedCrop(14, 14, **kwargs).sample_boxes(32, 28, 28).numpy()
    crops = RandomResizedCrop(14, 14, **kwargs)(images).numpy()
    assert len(np.unique(boxes[:, :2], axis=0)) > 10
    for image, crop, (y0, x0, h, w) in zip(images, crops, boxes):
        assert (h, w) == (14, 14)
        np.testing.assert_allclose(crop, image[y0 : y0 + h, x0 : x0 + w], atol=1e-5)


def test_each_sample_and_each_call_gets_its_own_crop(fashion_mnist_train):
    image = _unit_float(fashion_mnist_train[0][:1])
    batch = np.repeat(image, 16, axis=0)
    crop = RandomResizedCrop(28, 28, seed=3)
    first = crop(batch).numpy()
    second = crop(batch).numpy()
    assert first.shape == (16, 28, 28, 1) and first.dtype == np.float32
    assert len({a.tobytes() for a in first}) == 16
    assert not np.allclose(first, second)


def test_single_image_and_uint8_inputs(fashion_mnist_train):
    image = fashion_mnist_train[0][0]
    crop = RandomResizedCrop(20, 24, seed=0)
    out = crop(image)
    assert out.shape == (20, 24, 1) and out.dtype == tf.float32
    # No rescaling: uint8 in, float32 in [0, 255] out.
    assert 1.0 < float(tf.reduce_max(out)) <= 255.0
    assert crop.compute_output_shape((None, 28, 28, 1)) == (None, 20, 24, 1)


def test_inference_is_central_crop_to_target_aspect_then_resize(fashion_mnist_train):
    images = _unit_float(fashion_mnist_train[0][:4])
    square = RandomResizedCrop(28, 28)(images, training=False)
    np.testing.assert_allclose(square, images, atol=1e-5)
    # Target aspect 2: the central 14 rows at full width, sampled 1:1.
    wide = RandomResizedCrop(14, 28)(images, training=False)
    np.testing.assert_allclose(wide, images[:, 7:21], atol=1e-5)


def test_crops_differ_per_call_and_per_epoch_inside_tf_data(fashion_mnist_train):
    images = _unit_float(fashion_mnist_train[0][:64])
    crop = RandomResizedCrop(28, 28, scale=(0.2, 1.0))
    ds = (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(32)
        .map(lambda x: (crop(x), crop(x)), num_parallel_calls=2)
    )
    epoch1 = [(a.numpy(), b.numpy()) for a, b in ds]
    epoch2 = [(a.numpy(), b.numpy()) for a, b in ds]
    for (a1, b1), (a2, b2) in zip(epoch1, epoch2):
        assert a1.shape == (32, 28, 28, 1)
        assert not np.allclose(a1, b1)  # two calls in one map
        assert not np.allclose(a1, a2)  # two epochs
        assert len({v.tobytes() for v in a1}) == 32  # per sample


def test_inside_a_keras_model_random_when_training_fixed_when_not(
    fashion_mnist_train,
):
    images = _unit_float(fashion_mnist_train[0][:8])
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, RandomResizedCrop(24, 24, seed=0)(inputs))
    assert model.output_shape == (None, 24, 24, 1)
    predicted = model.predict(images, verbose=0)
    np.testing.assert_allclose(predicted, model.predict(images, verbose=0))
    trained1 = model(images, training=True).numpy()
    trained2 = model(images, training=True).numpy()
    assert trained1.shape == (8, 24, 24, 1) and not np.allclose(trained1, trained2)


def test_get_config_round_trips_and_keras_serialization():
    crop = RandomResizedCrop(
        24, 20, scale=(0.3, 0.9), ratio=(0.5, 2.0), interpolation="nearest",
        seed=5, name="crop",
    )
    config = crop.get_config()
    for key, value in dict(
        height=24, width=20, scale=(0.3, 0.9), ratio=(0.5, 2.0),
        interpolation="nearest", seed=5,
    ).items():
        assert config[key] == value
    assert RandomResizedCrop.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(crop)
    )
    assert isinstance(restored, RandomResizedCrop)
    assert restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(height=0, width=8), "height=0"),
        (dict(height=8, width=2.5), "width=2.5"),
        (dict(height=8, width=8, scale=(0.0, 1.0)), "scale=(0.0, 1.0)"),
        (dict(height=8, width=8, scale=(0.5, 0.2)), "scale=(0.5, 0.2)"),
        (dict(height=8, width=8, scale=(0.5, 1.5)), "scale=(0.5, 1.5)"),
        (dict(height=8, width=8, scale=0.5), "scale=0.5"),
        (dict(height=8, width=8, ratio=(0.0, 1.0)), "ratio=(0.0, 1.0)"),
        (dict(height=8, width=8, ratio=(2.0, 1.0)), "ratio=(2.0, 1.0)"),
        (dict(height=8, width=8, interpolation="bicubic"), "interpolation='bicubic'"),
        (dict(height=8, width=8, seed="x"), "seed='x'"),
    ],
)
def test_invalid_arguments_raise_naming_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RandomResizedCrop(**kwargs)


def test_rank_other_than_3_or_4_is_rejected():
    with pytest.raises(ValueError, match="inputs.shape"):
        RandomResizedCrop(8, 8)(np.zeros((28, 28), "float32"))


def test_default_ratio_is_torchvision_three_quarters_to_four_thirds():
    crop = RandomResizedCrop(8, 8)
    assert crop.scale == (0.08, 1.0)
    assert math.isclose(crop.ratio[0], 3 / 4) and math.isclose(crop.ratio[1], 4 / 3)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_crops_of_a_constant_image_never_sample_outside_it(interpolation):
    """Regression: at a box's far edge crop_and_resize's float rounding could land
    outside the image and write 0 (a black row; a class-0 row in a class map)."""
    crop = RandomResizedCrop(24, 24, scale=(0.3, 1.0), interpolation=interpolation, seed=0)
    images = np.full((2000, 32, 32, 1), 4.0, np.float32)
    np.testing.assert_allclose(crop(images, training=True).numpy(), 4.0, rtol=1e-6)
