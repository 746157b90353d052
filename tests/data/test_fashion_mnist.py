"""Tests of keras_contrastive/data/fashion_mnist.py on the real idx files."""
import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.data import (
    find_fashion_mnist,
    load_fashion_mnist,
    load_fashion_mnist_arrays,
)
from keras_contrastive.data import fashion_mnist
from tests.data.conftest import write_idx


def test_train_split_is_60000_uint8_images_and_first_label_is_ankle_boot():
    images, labels = load_fashion_mnist_arrays("train")
    assert images.shape == (60000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert labels[0] == 9 and fashion_mnist.CLASS_NAMES[9] == "Ankle boot"
    np.testing.assert_array_equal(labels[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    # The data set's published mean pixel value is 0.2860 * 255.
    assert abs(images.mean() - 72.940) < 0.01


def test_test_split_is_10000_images_with_1000_per_class():
    images, labels = load_fashion_mnist_arrays("test")
    assert images.shape == (10000, 28, 28, 1) and labels.shape == (10000,)
    np.testing.assert_array_equal(labels[:5], [9, 2, 1, 1, 6])
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)


def test_arrays_are_cached_per_split_and_read_only():
    first = load_fashion_mnist_arrays("test")
    second = load_fashion_mnist_arrays("test")
    assert first[0] is second[0] and first[1] is second[1]
    with pytest.raises(ValueError, match="read-only"):
        first[0][0, 0, 0, 0] = 1


def test_unknown_split_raises_naming_it():
    with pytest.raises(ValueError, match="'validation'"):
        load_fashion_mnist_arrays("validation")
    with pytest.raises(ValueError, match="'val'"):
        load_fashion_mnist("val")


def test_dataset_yields_uint8_images_with_int64_labels_in_file_order(fashion_mnist_test):
    images, labels = fashion_mnist_test
    ds = load_fashion_mnist("test")
    assert ds.element_spec == (
        tf.TensorSpec([28, 28, 1], tf.uint8),
        tf.TensorSpec([], tf.int64),
    )
    for index, (image, label) in enumerate(ds.take(3)):
        np.testing.assert_array_equal(image.numpy(), images[index])
        assert int(label) == labels[index]
    only_images = load_fashion_mnist("test", with_labels=False)
    assert only_images.element_spec == tf.TensorSpec([28, 28, 1], tf.uint8)
    assert only_images.cardinality().numpy() == 10000


def test_search_order_is_data_dir_env_var_keras_cache_then_defaults(
    isolated_search, write_fashion_mnist_subset, monkeypatch, tmp_path, fashion_mnist_test
):
    # Each place holds a different number of real test examples, so the size
    # of what loads tells which place won.
    data_dir = write_fashion_mnist_subset(tmp_path / "arg", 10, splits=("test",))
    env_dir = write_fashion_mnist_subset(tmp_path / "env", 20, splits=("test",))
    keras_dir = write_fashion_mnist_subset(isolated_search, 30, splits=("test",))
    system_dir = write_fashion_mnist_subset(tmp_path / "system", 40, splits=("test",))
    monkeypatch.setenv(fashion_mnist.ENV_VAR, env_dir)
    monkeypatch.setattr(
        fashion_mnist, "DEFAULT_SEARCH_DIRS", ("~/.keras/datasets/fashion-mnist", system_dir)
    )

    def size(**kwargs):
        return len(load_fashion_mnist_arrays("test", download=False, **kwargs)[1])

    assert find_fashion_mnist(data_dir, download=False, split="test") == data_dir
    assert size(data_dir=data_dir) == 10
    assert size() == 20
    monkeypatch.delenv(fashion_mnist.ENV_VAR)
    assert find_fashion_mnist(download=False, split="test") == str(keras_dir)
    assert size() == 30
    for name in fashion_mnist.FILES["test"]:
        os.remove(os.path.join(keras_dir, name))
    assert size() == 40
    images, labels = load_fashion_mnist_arrays("test", download=False)
    np.testing.assert_array_equal(images, fashion_mnist_test[0][:40])
    np.testing.assert_array_equal(labels, fashion_mnist_test[1][:40])


def test_a_split_needs_only_its_own_two_files(isolated_search, write_fashion_mnist_subset, tmp_path):
    only_test = write_fashion_mnist_subset(tmp_path / "only_test", 5, splits=("test",))
    assert find_fashion_mnist(only_test, download=False, split="test") == only_test
    with pytest.raises(FileNotFoundError):
        find_fashion_mnist(only_test, download=False)  # all four files required
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_fashion_mnist_arrays("train", data_dir=only_test, download=False)


def test_dir_without_files_falls_through_with_a_warning(
    isolated_search, write_fashion_mnist_subset, monkeypatch, tmp_path
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(empty))
    write_fashion_mnist_subset(isolated_search, 7)
    with pytest.warns(UserWarning, match="not in .*empty"):
        images, _ = load_fashion_mnist_arrays("train", download=False)
    assert len(images) == 7


def test_missing_files_raise_listing_every_searched_place_and_the_fix(
    isolated_search, monkeypatch, tmp_path
):
    arg_dir, env_dir = tmp_path / "arg", tmp_path / "env"
    arg_dir.mkdir()
    env_dir.mkdir()
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(env_dir))
    with pytest.raises(FileNotFoundError) as raised:
        load_fashion_mnist_arrays("train", data_dir=arg_dir, download=False)
    message = str(raised.value)
    for place in (arg_dir, env_dir, isolated_search):
        assert str(place) in message
    assert message.index(str(arg_dir)) < message.index(str(env_dir)) < message.index(
        str(isolated_search)
    )
    assert "download=False" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "KERAS_CONTRASTIVE_DATA" in message


def test_truncated_gzip_file_raises_naming_it(isolated_search, write_fashion_mnist_subset, tmp_path):
    directory = write_fashion_mnist_subset(tmp_path / "cut", 50, splits=("test",))
    path = os.path.join(directory, fashion_mnist.FILES["test"][0])
    with open(path, "rb") as stream:
        data = stream.read()
    with open(path, "wb") as stream:
        stream.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as raised:
        load_fashion_mnist_arrays("test", data_dir=directory, download=False)
    assert path in str(raised.value)


def test_idx_payload_shorter_than_its_header_raises(isolated_search, write_fashion_mnist_subset, tmp_path):
    directory = write_fashion_mnist_subset(tmp_path / "short", 5, splits=("test",))
    path = os.path.join(directory, fashion_mnist.FILES["test"][0])
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    with gzip.open(path, "wb") as stream:
        stream.write(data[:-100])  # a valid gzip of an incomplete idx file
    with pytest.raises(ValueError, match=r"promises shape \(5, 28, 28\)"):
        load_fashion_mnist_arrays("test", data_dir=directory, download=False)


def test_wrong_magic_number_raises(isolated_search, write_fashion_mnist_subset, tmp_path):
    directory = write_fashion_mnist_subset(tmp_path / "swapped", 5, splits=("test",))
    images_name, labels_name = fashion_mnist.FILES["test"]
    write_idx(os.path.join(directory, images_name), np.zeros(5, np.uint8))  # a labels file
    with pytest.raises(ValueError, match="magic number 0x00000801, expected 0x00000803"):
        load_fashion_mnist_arrays("test", data_dir=directory, download=False)


def test_image_and_label_counts_must_agree(isolated_search, write_fashion_mnist_subset, tmp_path):
    directory = write_fashion_mnist_subset(tmp_path / "mismatch", 5, splits=("test",))
    write_idx(os.path.join(directory, fashion_mnist.FILES["test"][1]), np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        load_fashion_mnist_arrays("test", data_dir=directory, download=False)
