"""Fashion-MNIST from its original idx files, found locally before any download.

The four gzip'd idx files (``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``) are parsed directly with NumPy, so the loader
works offline wherever the files already exist.  Directories are searched in
this order:

1. the ``data_dir`` argument,
2. ``$KERAS_CONTRASTIVE_DATA``,
3. the directories of ``DEFAULT_SEARCH_DIRS``: Keras' download cache
   (``$KERAS_HOME/datasets/fashion-mnist`` when ``KERAS_HOME`` is set, then
   ``~/.keras/datasets/fashion-mnist``) and Debian's ``dataset-fashion-mnist``
   package (``/usr/share/datasets/fashion-mnist``),
4. Keras' own download into its cache (the same files and URL as
   ``keras.datasets.fashion_mnist.load_data()``), only if nothing was found.

This module imports neither TensorFlow nor Keras at import time, so
``python -m keras_contrastive.data.fetch`` stays fast when the files exist.
"""
import gzip
import os
import warnings
import zlib

import numpy as np

ENV_VAR = "KERAS_CONTRASTIVE_DATA"

# Searched after `data_dir` and $KERAS_CONTRASTIVE_DATA.  `~` and `$VARS` are
# expanded at search time; entries whose variables are unset are ignored.
# Tests monkeypatch this tuple to keep the search off the machine's own copies.
DEFAULT_SEARCH_DIRS = (
    "$KERAS_HOME/datasets/fashion-mnist",
    "~/.keras/datasets/fashion-mnist",
    "/usr/share/datasets/fashion-mnist",
)

_SEARCH_DIR_NOTES = {
    "$KERAS_HOME/datasets/fashion-mnist": "Keras cache under $KERAS_HOME",
    "~/.keras/datasets/fashion-mnist": "Keras cache",
    "/usr/share/datasets/fashion-mnist": "Debian package dataset-fashion-mnist",
}

SPLITS = ("train", "test")

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# Where Keras' `fashion_mnist.load_data()` downloads from and caches to.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")

HOW_TO_GET = (
    "To get the files: `sudo apt-get install dataset-fashion-mnist` "
    "(Debian/Ubuntu; installs them into /usr/share/datasets/fashion-mnist), "
    "or run `python -m keras_contrastive.data.fetch`, or put the four .gz files "
    "from https://github.com/zalandoresearch/fashion-mnist in a directory and "
    f"set {ENV_VAR}=/that/directory."
)

_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension

# (realpath of directory, split) -> (images, labels), both read-only.
_ARRAY_CACHE = {}


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"Fashion-MNIST has splits 'train' and 'test'; received split={split!r}."
        )


def _required_files(split):
    if split is None:
        return FILES["train"] + FILES["test"]
    _check_split(split)
    return FILES[split]


def _candidate_dirs(data_dir):
    """Ordered (directory, description, chosen by the user) triples, deduplicated."""
    candidates = []
    if data_dir is not None:
        candidates.append((os.fspath(data_dir), "data_dir argument", True))
    if os.environ.get(ENV_VAR):
        candidates.append((os.environ[ENV_VAR], f"${ENV_VAR}", True))
    for entry in DEFAULT_SEARCH_DIRS:
        entry = os.fspath(entry)
        expanded = os.path.expanduser(os.path.expandvars(entry))
        if "$" in expanded:  # an unset variable, e.g. $KERAS_HOME
            continue
        note = _SEARCH_DIR_NOTES.get(entry, "default search directory")
        candidates.append((expanded, note, False))
    seen, unique = set(), []
    for candidate in candidates:
        key = os.path.abspath(candidate[0])
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return unique


def _has_files(directory, names):
    return all(os.path.isfile(os.path.join(directory, name)) for name in names)


def _keras_download():
    """Downloads the four files like `keras.datasets.fashion_mnist.load_data()`.

    `keras.utils.get_file` with Keras' own origin and cache sub-directory is
    exactly what `load_data()` does; calling it directly returns the cached
    paths (respecting `$KERAS_HOME` and Keras' fall-back to /tmp/.keras) and
    avoids parsing all four files a second time.
    """
    import keras  # deferred: slow to import and only needed here

    paths = [
        keras.utils.get_file(name, origin=KERAS_ORIGIN + name, cache_subdir=KERAS_CACHE_SUBDIR)
        for name in FILES["train"] + FILES["test"]
    ]
    return os.path.dirname(paths[0])


def _not_found_message(names, searched, download_note):
    lines = [f"Fashion-MNIST files not found ({', '.join(names)}). Searched, in order:"]
    lines += [f"  - {directory}  ({why})" for directory, why, _ in searched]
    lines.append(f"  - Keras download: {download_note}")
    lines.append(HOW_TO_GET)
    return "\n".join(lines)


def find_fashion_mnist(data_dir=None, download=True, split=None):
    """Returns the first directory holding Fashion-MNIST's idx ``.gz`` files.

    Directories are searched in order: ``data_dir``, ``$KERAS_CONTRASTIVE_DATA``,
    Keras' cache (``~/.keras/datasets/fashion-mnist``), Debian's
    ``/usr/share/datasets/fashion-mnist``; Keras downloads the files into its
    cache only when none of them has them.

    Args:
        data_dir: optional directory to look in first.
        download: whether to let Keras download the files when no directory
            has them.  With ``False`` nothing touches the network.
        split: ``"train"`` or ``"test"`` to require only that split's two
            files; ``None`` (default) requires all four.

    Returns:
        The directory, as a string.

    Raises:
        FileNotFoundError: no directory has the files and the download was
            disabled or failed; the message lists every place searched and
            how to get the files.
        ValueError: ``split`` is not ``"train"``, ``"test"`` or ``None``.

    Example:

    >>> import os
    >>> from keras_contrastive.data.fashion_mnist import find_fashion_mnist
    >>> directory = find_fashion_mnist(download=False)
    >>> os.path.isfile(os.path.join(directory, "train-images-idx3-ubyte.gz"))
    True
    """
    names = _required_files(split)
    searched = _candidate_dirs(data_dir)
    for index, (directory, _, _) in enumerate(searched):
        if _has_files(directory, names):
            explicit = [d for d, _, chosen in searched[:index] if chosen]
            if explicit:
                warnings.warn(
                    f"Fashion-MNIST files not in {', '.join(explicit)}; using {directory}.",
                    stacklevel=2,
                )
            return directory
    if not download:
        download_note = "not attempted (download=False)"
    else:
        try:
            directory = _keras_download()
        except Exception as error:  # noqa: BLE001 - any failure is reported below
            download_note = f"failed ({type(error).__name__}: {error})"
        else:
            if _has_files(directory, names):
                return directory
            download_note = f"finished but {directory} lacks the files"
    raise FileNotFoundError(_not_found_message(names, searched, download_note))


def _read_gzip(path):
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"{path} is not a complete gzip file ({type(error).__name__}: {error}). "
            "It is probably truncated or corrupt: delete it and fetch it again. " + HOW_TO_GET
        ) from error


def _parse_idx(path, magic, dims):
    """Parses one gzip'd idx file of unsigned bytes with `dims` dimensions."""
    data = _read_gzip(path)
    header_size = 4 * (1 + dims)
    found_magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found_magic is not None and found_magic != magic:
        raise ValueError(
            f"{path} is not an idx file of {dims}-d unsigned bytes: magic number "
            f"0x{found_magic:08x}, expected 0x{magic:08x}. Is it the right file?"
        )
    if len(data) < header_size:
        raise ValueError(
            f"{path} is truncated: {len(data)} bytes, less than the {header_size}-byte "
            "idx header. Delete it and fetch it again."
        )
    header = np.frombuffer(data, dtype=">u4", count=1 + dims)
    shape = tuple(int(n) for n in header[1:])
    expected = int(np.prod(shape))
    if len(data) - header_size != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header promises shape {shape} "
            f"({expected} bytes) but it holds {len(data) - header_size} bytes of data. "
            "Delete it and fetch it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def load_fashion_mnist_arrays(split="train", data_dir=None, download=True):
    """Loads one Fashion-MNIST split as NumPy arrays.

    Parsed arrays are cached in memory per (directory, split), so repeated
    calls are free; the returned arrays are shared and therefore read-only
    (``np.array(images)`` gives a writable copy).

    Args:
        split: ``"train"`` (60,000 examples) or ``"test"`` (10,000).
        data_dir: optional directory holding the ``.gz`` idx files, searched
            first (see `find_fashion_mnist` for the full search order).
        download: whether Keras may download the files if no directory has them.

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28, 1]`` and int64 ``[N]`` (class
        ids 0-9, names in ``CLASS_NAMES``).

    Raises:
        ValueError: unknown ``split``, or a truncated / corrupt file.
        FileNotFoundError: the files were found nowhere (see `find_fashion_mnist`).

    Example:

    >>> from keras_contrastive.data import load_fashion_mnist_arrays
    >>> images, labels = load_fashion_mnist_arrays("test")
    >>> images.shape, images.dtype, labels.shape, labels.dtype
    ((10000, 28, 28, 1), dtype('uint8'), (10000,), dtype('int64'))
    """
    _check_split(split)
    directory = find_fashion_mnist(data_dir, download=download, split=split)
    key = (os.path.realpath(directory), split)
    if key not in _ARRAY_CACHE:
        images_name, labels_name = FILES[split]
        images_path = os.path.join(directory, images_name)
        labels_path = os.path.join(directory, labels_name)
        images = _parse_idx(images_path, _IMAGES_MAGIC, dims=3)[..., np.newaxis]
        labels = _parse_idx(labels_path, _LABELS_MAGIC, dims=1).astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels; one of them is from another copy or corrupt."
            )
        images.flags.writeable = False
        labels.flags.writeable = False
        _ARRAY_CACHE[key] = (images, labels)
    return _ARRAY_CACHE[key]


# one colour per class (RGB in [0, 1]): a garment's chroma follows from its shape
TINT_PALETTE = np.array(
    [[1, .2, .2], [.2, 1, .2], [.2, .2, 1], [1, 1, .2], [1, .2, 1], [.2, 1, 1],
     [1, .6, .2], [.6, .2, 1], [.2, .6, 1], [.6, 1, .2]], np.float32)


def load_tinted_fashion_mnist_arrays(split="train", data_dir=None, download=True):
    """Fashion-MNIST in colour: each image tinted with its class's colour.

    The offline colour toy for the colorization pretext task (Fashion-MNIST
    is grayscale, so there is no colour to predict): pixel ``p`` of class
    ``c`` becomes ``p * TINT_PALETTE[c]``, so a garment's chroma is
    predictable from its shape, the way grass is green.  For real colour data
    use `from_directory` or `from_tfds`.

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28, 3]`` and int64 ``[N]``.

    Example:

    >>> from keras_contrastive.data import load_tinted_fashion_mnist_arrays
    >>> images, labels = load_tinted_fashion_mnist_arrays("test")
    >>> images.shape, images.dtype
    ((10000, 28, 28, 3), dtype('uint8'))
    """
    images, labels = load_fashion_mnist_arrays(split, data_dir=data_dir, download=download)
    tinted = np.round(images.astype(np.float32) * TINT_PALETTE[labels][:, None, None, :])
    return tinted.astype(np.uint8), labels


def load_fashion_mnist(split="train", data_dir=None, with_labels=True, download=True):
    """Fashion-MNIST as a `tf.data.Dataset` of uint8 images (+ int64 labels).

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: optional directory holding the ``.gz`` idx files, searched
            first (see `find_fashion_mnist`).
        with_labels: yield ``(image, label)`` pairs when True, else images only.
        download: whether Keras may download the files if no directory has them.

    Returns:
        An unbatched dataset of ``image`` (uint8 ``[28, 28, 1]``) or
        ``(image, label)`` (label an int64 scalar), in file order.

    Example:

    >>> from keras_contrastive.data import load_fashion_mnist
    >>> ds = load_fashion_mnist("test")
    >>> image, label = next(iter(ds))
    >>> image.shape, int(label)
    (TensorShape([28, 28, 1]), 9)
    """
    import tensorflow as tf  # deferred: keeps `fetch` fast

    images, labels = load_fashion_mnist_arrays(split, data_dir=data_dir, download=download)
    if with_labels:
        return tf.data.Dataset.from_tensor_slices((images, labels))
    return tf.data.Dataset.from_tensor_slices(images)
