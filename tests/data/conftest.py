"""Fixtures for the data tests: small real Fashion-MNIST idx files in tmp dirs."""
import gzip
import os
import struct

import numpy as np
import pytest

from keras_contrastive.data import fashion_mnist

_MAGIC = {3: 0x00000803, 1: 0x00000801}


def write_idx(path, array):
    """Writes a uint8 array as a gzip'd idx file (the format of the originals)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(f">I{array.ndim}I", _MAGIC[array.ndim], *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.tobytes())


@pytest.fixture
def write_fashion_mnist_subset(fashion_mnist_train, fashion_mnist_test):
    """Returns write(directory, n, splits): the first `n` real examples per split."""
    real = {"train": fashion_mnist_train, "test": fashion_mnist_test}

    def write(directory, n, splits=("train", "test")):
        os.makedirs(directory, exist_ok=True)
        for split in splits:
            images, labels = real[split]
            images_name, labels_name = fashion_mnist.FILES[split]
            write_idx(os.path.join(directory, images_name), images[:n, ..., 0])
            write_idx(os.path.join(directory, labels_name), labels[:n])
        return str(directory)

    return write


@pytest.fixture
def isolated_search(monkeypatch, tmp_path, fashion_mnist_train, fashion_mnist_test):
    """Searches only tmp dirs: an empty $HOME, no env vars, no system copy.

    (It depends on the real-data fixtures so they load before the search is
    cut off from the machine's copy.)

    Returns the `~/.keras/datasets/fashion-mnist` path under the fake HOME
    (not created).  Downloads must still be disabled by the test itself.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(
        fashion_mnist, "DEFAULT_SEARCH_DIRS", ("~/.keras/datasets/fashion-mnist",)
    )
    monkeypatch.setattr(fashion_mnist, "_ARRAY_CACHE", {})
    return home / ".keras" / "datasets" / "fashion-mnist"
