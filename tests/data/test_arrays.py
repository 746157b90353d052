"""Tests of keras_contrastive/data/arrays.py."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.data import from_arrays


def test_uint8_grayscale_gets_a_channel_axis_and_int64_labels(fashion_mnist_train):
    images, labels = fashion_mnist_train
    ds = from_arrays(images[:5, ..., 0], labels[:5].astype(np.uint8))
    assert ds.element_spec == (tf.TensorSpec([28, 28, 1], tf.uint8), tf.TensorSpec([], tf.int64))
    got = list(ds)
    np.testing.assert_array_equal(np.stack([x for x, _ in got]), images[:5])
    assert [int(y) for _, y in got] == [9, 0, 0, 3, 0]


def test_uint8_with_channels_is_kept_as_is_without_labels():
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    ds = from_arrays(images)
    assert ds.element_spec == tf.TensorSpec([4, 5, 3], tf.uint8)
    np.testing.assert_array_equal(np.stack(list(ds)), images)


def test_floats_in_unit_range_become_rounded_uint8(fashion_mnist_train):
    images = fashion_mnist_train[0][:4]
    ds = from_arrays(images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(np.stack(list(ds)), images)  # exact round trip
    edges = from_arrays(np.array([[[0.0, 0.5 / 255, 0.6 / 255, 1.0]]], np.float64))
    np.testing.assert_array_equal(next(iter(edges)).numpy()[..., 0], [[0, 0, 1, 255]])


def test_floats_outside_unit_range_raise_naming_dtype_and_range():
    with pytest.raises(ValueError, match=r"float32.*\[0.0, 255.0\]"):
        from_arrays(np.array([[[0.0, 255.0]]], np.float32))
    with pytest.raises(ValueError, match="nan"):
        from_arrays(np.array([[[0.0, np.nan]]], np.float32))


def test_other_dtypes_raise_naming_the_dtype():
    with pytest.raises(ValueError, match="int32.*astype\\('uint8'\\)"):
        from_arrays(np.zeros((2, 3, 3), np.int32))
    with pytest.raises(ValueError, match="dtype bool"):
        from_arrays(np.zeros((2, 3, 3), bool))


def test_label_count_mismatch_raises_with_both_lengths():
    with pytest.raises(ValueError, match="3 images and labels of shape \\(2,\\)"):
        from_arrays(np.zeros((3, 4, 4), np.uint8), labels=[0, 1])
    with pytest.raises(ValueError, match="integers.*float64"):
        from_arrays(np.zeros((2, 4, 4), np.uint8), labels=[0.0, 1.0])


def test_empty_or_wrongly_shaped_input_raises():
    with pytest.raises(ValueError, match="empty"):
        from_arrays(np.zeros((0, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, H, W\].*\(28, 28\)"):
        from_arrays(np.zeros((28, 28), np.uint8))


def test_set_autotune_switches_the_model_for_the_whole_pipeline_and_keeps_the_data():
    from keras_contrastive.data import set_autotune

    pipeline = tf.data.Dataset.range(10).map(lambda x: x * 2,
                                             num_parallel_calls=tf.data.AUTOTUNE).batch(4)
    off = set_autotune(pipeline)
    assert off.options().autotune.enabled is False
    assert set_autotune(off, enabled=True).options().autotune.enabled is True
    assert [b.tolist() for b in off.as_numpy_iterator()] == [[0, 2, 4, 6], [8, 10, 12, 14],
                                                             [16, 18]]
    with pytest.raises(ValueError, match="must be a tf.data.Dataset, got ndarray"):
        set_autotune(np.zeros(3))
