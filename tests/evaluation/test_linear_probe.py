"""Tests of keras_contrastive/evaluation/linear_probe.py."""
import keras
import numpy as np
import pytest

from keras_contrastive.evaluation import linear_probe, linear_probe_from_features


def identity_encoder(dim):
    """Images [B, dim, 1, 1] -> features [B, dim]: lets tests feed chosen features."""
    return keras.Sequential([keras.Input((dim, 1, 1)), keras.layers.Flatten()])


def gaussian_clusters(n_per_class, num_classes=4, dim=10, separation=10.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * separation
    labels = np.repeat(np.arange(num_classes), n_per_class)
    features = centres[labels] + rng.normal(size=(labels.size, dim))
    order = rng.permutation(labels.size)
    return features[order].astype(np.float32), labels[order]


def as_images(features):
    """Features as float 'images' in [0, 1] (an affine map: standardisation undoes it)."""
    return ((features + 50.0) / 100.0)[:, :, None, None]


def test_well_separated_clusters_are_classified_perfectly_with_c_from_grid():
    x, y = gaussian_clusters(75)  # 300 points; train on 150, test on the rest
    train_x, train_y, test_x, test_y = x[:150], y[:150], x[150:], y[150:]
    grid = np.logspace(-3, 1, 5)
    details = linear_probe(
        identity_encoder(10),
        (as_images(train_x), train_y),
        (as_images(test_x), test_y),
        l2_grid=grid,
        return_details=True,
    )
    assert details["accuracy"] >= 0.99
    assert details["C"] in grid.tolist()
    assert set(details["val_accuracies"]) == set(grid.tolist())
    assert all(0.0 <= a <= 1.0 for a in details["val_accuracies"].values())
    accuracy = linear_probe(
        identity_encoder(10), (as_images(train_x), train_y), (as_images(test_x), test_y), l2_grid=grid
    )
    assert isinstance(accuracy, float) and accuracy == details["accuracy"]


def test_single_value_grid_needs_no_validation_split():
    x, y = gaussian_clusters(20, num_classes=2)
    details = linear_probe_from_features(x, y, x, y, l2_grid=[0.5], return_details=True)
    assert details["C"] == 0.5 and details["val_accuracies"] == {}
    assert details["accuracy"] >= 0.99


def test_raw_pixels_on_fashion_mnist_beat_75_percent(fashion_mnist_train, fashion_mnist_test):
    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    details = linear_probe(encoder, fashion_mnist_train, fashion_mnist_test, return_details=True)
    assert details["accuracy"] > 0.75
    assert details["C"] in np.logspace(-4, 2, 7).tolist()
    assert not details["not_converged"]


def test_mismatched_feature_dimensions_raise():
    x, y = gaussian_clusters(10, num_classes=2)
    with pytest.raises(ValueError, match=r"same dimension.*\(20, 10\).*\(20, 3\)"):
        linear_probe_from_features(x, y, x[:, :3], y)


def test_empty_data_raises():
    x, y = gaussian_clusters(10, num_classes=2)
    with pytest.raises(ValueError, match="`train` is empty"):
        linear_probe_from_features(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="`test` is empty"):
        linear_probe_from_features(x, y, x[:0], y[:0])
    with pytest.raises(ValueError, match="empty"):
        linear_probe(identity_encoder(10), (as_images(x)[:0], y[:0]), (as_images(x), y))


def test_single_training_class_raises():
    x, y = gaussian_clusters(10, num_classes=2)
    with pytest.raises(ValueError, match="single class"):
        linear_probe_from_features(x, np.zeros_like(y), x, y)


def test_bad_grid_and_val_fraction_raise():
    x, y = gaussian_clusters(10, num_classes=2)
    with pytest.raises(ValueError, match="l2_grid"):
        linear_probe_from_features(x, y, x, y, l2_grid=[1.0, -1.0])
    with pytest.raises(ValueError, match="val_fraction"):
        linear_probe_from_features(x, y, x, y, val_fraction=1.5)
