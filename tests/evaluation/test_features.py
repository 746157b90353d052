"""Tests of keras_contrastive/evaluation/features.py."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.evaluation import extract_features


def flatten_encoder(shape=(8, 8, 1)):
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten()])


def conv_encoder(shape=(8, 8, 1)):
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )


def labelled_images(n=37, shape=(8, 8, 1)):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
    labels = rng.integers(0, 5, n).astype(np.int64)
    return images, labels


def test_uint8_is_divided_by_255_and_matches_float_input():
    images, labels = labelled_images()
    features, out_labels = extract_features(flatten_encoder(), (images, labels), batch_size=10)
    assert features.dtype == np.float32 and out_labels.dtype == np.int64
    assert features.shape == (37, 64)
    np.testing.assert_allclose(features, images.reshape(37, -1) / 255.0, atol=1e-6)
    float_features, _ = extract_features(flatten_encoder(), (images / 255.0, labels))
    np.testing.assert_allclose(features, float_features, atol=1e-6)
    np.testing.assert_array_equal(out_labels, labels)


def test_numpy_unbatched_and_batched_datasets_give_the_same_features():
    images, labels = labelled_images()
    encoder = conv_encoder()
    reference, _ = extract_features(encoder, (images, labels), batch_size=8)
    unbatched = tf.data.Dataset.from_tensor_slices((images, labels))
    batched = tf.data.Dataset.from_tensor_slices((images.astype("float32") / 255, labels)).batch(5)
    for data in (unbatched, batched):
        features, out_labels = extract_features(encoder, data, batch_size=8)
        np.testing.assert_allclose(features, reference, atol=1e-5)
        np.testing.assert_array_equal(out_labels, labels)


def test_reshuffling_dataset_keeps_features_aligned_with_labels():
    # Each image encodes its own label, so misalignment would be visible.
    labels = np.arange(50) % 7
    images = np.repeat(labels[:, None, None, None], 64, axis=1).reshape(50, 8, 8, 1).astype(np.uint8)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(50, reshuffle_each_iteration=True)
    features, out_labels = extract_features(flatten_encoder(), data, batch_size=16)
    np.testing.assert_allclose(features[:, 0] * 255, out_labels, atol=1e-4)


def test_labels_of_shape_n_by_1_are_flattened():
    images, labels = labelled_images(n=6)
    _, out_labels = extract_features(flatten_encoder(), (images, labels[:, None]))
    np.testing.assert_array_equal(out_labels, labels)


def test_wrong_channels_error_names_both_shapes():
    images, labels = labelled_images(shape=(8, 8, 3))
    with pytest.raises(ValueError, match=r"\(8, 8, 3\).*\(8, 8, 1\)"):
        extract_features(conv_encoder(), (images, labels))
    with pytest.raises(ValueError, match=r"\(8, 8, 3\).*\(8, 8, 1\)"):
        extract_features(conv_encoder(), tf.data.Dataset.from_tensor_slices((images, labels)))


def test_wrong_rank_error_names_both_shapes():
    images, labels = labelled_images(shape=(8, 8))
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(8, 8, 1\)"):
        extract_features(conv_encoder(), (images, labels))
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(8, 8, 1\)"):
        extract_features(conv_encoder(), tf.data.Dataset.from_tensor_slices((images, labels)))


def test_empty_data_raises():
    images, labels = labelled_images()
    with pytest.raises(ValueError, match="empty"):
        extract_features(flatten_encoder(), (images[:0], labels[:0]))
    with pytest.raises(ValueError, match="empty"):
        extract_features(flatten_encoder(), tf.data.Dataset.from_tensor_slices((images[:0], labels[:0])))


def test_bad_arguments_raise_clear_errors():
    images, labels = labelled_images()
    with pytest.raises(ValueError, match="same length"):
        extract_features(flatten_encoder(), (images, labels[:3]))
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(flatten_encoder(), (images, labels), batch_size=0)
    with pytest.raises(TypeError, match="data"):
        extract_features(flatten_encoder(), "images")
    spatial = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        extract_features(spatial, (images, labels))


def test_images_without_labels_give_features_and_labels_none():
    """Unlabelled data (an array of images, ``(images, None)``, a ``tf.data`` of images,
    batched or not): the same features as with labels, and ``labels`` None."""
    images, labels = labelled_images()
    encoder = flatten_encoder()
    expected, _ = extract_features(encoder, (images, labels))
    for data in (images, (images, None), tf.data.Dataset.from_tensor_slices(images),
                 tf.data.Dataset.from_tensor_slices(images).batch(3)):
        features, no_labels = extract_features(encoder, data)
        assert no_labels is None and np.array_equal(features, expected)


def test_float_images_in_0_255_warn():
    images, labels = labelled_images()
    with pytest.warns(UserWarning, match=r"\[0, 1\]"):
        extract_features(flatten_encoder(), (images.astype("float32"), labels))
