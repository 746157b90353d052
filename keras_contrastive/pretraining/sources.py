"""A run's data by name: ``data.NAMED_ARRAYS`` names, image folders, TFDS names.

:func:`open_split` opens one split without reading its images: a folder is
scanned (each file checked, nothing kept but its path and label) and a TFDS
split is counted from its metadata.  Training reads it as a stream
(:meth:`Split.training_images`: files in a random order that is a function
of the seed and the epoch, decoded on the fly, a bounded shuffle buffer), so a run's memory does not
grow with the data set; evaluation reads the first N images as arrays
(:meth:`Split.arrays`) or streams the whole split into features.  The named
data sets (Fashion-MNIST and its tinted toy) are NumPy arrays already, and
are used as they are.

Example:

>>> from keras_contrastive.pretraining.sources import open_split
>>> split = open_split("fashion_mnist", "test")
>>> split.count, split.image_shape, split.in_memory
(10000, (28, 28, 1), True)
"""
import dataclasses
import difflib
import os
import re

import numpy as np
import tensorflow as tf

from keras_contrastive import data as kc_data
from keras_contrastive.data.directory import from_scan, list_class_folders, scan_image_directory

#: Decoded uint8 images a streamed training split shuffles among (the files'
#: order is shuffled too, each epoch): its memory is fixed, whatever the data
#: set's size (1024 images of 224 x 224 x 3: 154 MB).
STREAM_SHUFFLE_BUFFER = 1024


@dataclasses.dataclass
class Split:
    """One labelled split of a named data set, opened but not read.

    Attributes:
        name: the data set's name (``--dataset``).
        split: ``"train"`` or ``"test"``.
        count: its number of images.
        image_shape: ``(H, W, C)`` of its images (as resized to ``image_size``).
        in_memory: whether its images are NumPy arrays already
            (``data.NAMED_ARRAYS``) rather than files read on the fly.
        open: ``open(limit, shuffle, seed)`` -> unbatched ``tf.data`` of
            ``(uint8 image, int64 label)``: the first ``limit`` images (all
            for ``None``), in a random order if ``shuffle`` (``seed``: an int
            or an int64 tensor).
        source_arrays: ``(images, labels)`` when ``in_memory``.
        class_names: a folder's label map (class names in label order, from
            its training split: the same for every split), else None.

    Example:

    >>> from keras_contrastive.pretraining.sources import open_split
    >>> images, labels = open_split("fashion_mnist", "test").arrays(5)
    >>> images.shape, labels.tolist()
    ((5, 28, 28, 1), [9, 2, 1, 1, 6])
    """

    name: str
    split: str
    count: int
    image_shape: tuple
    in_memory: bool
    open: object
    source_arrays: tuple = None
    class_names: list = None

    def arrays(self, limit=None):
        """``(images, labels)`` NumPy arrays of the first ``limit`` images (all for ``None``)."""
        if self.in_memory:
            images, labels = self.source_arrays
            return (images[:limit], labels[:limit]) if limit else (images, labels)
        images, labels = [], []
        for batch_images, batch_labels in self.open(limit, False, None).batch(
                1024).as_numpy_iterator():
            images.append(batch_images)
            labels.append(batch_labels)
        return np.concatenate(images), np.concatenate(labels)

    def training_images(self, limit=None, labels=False, seed=None, indices=False):
        """The first ``limit`` images (all for ``None``), unbatched, for
        ``views.make_views(..., epochs=...)``, with their labels if ``labels``;
        and the ``make_views`` arguments that suit them.  In memory: a
        ``tf.data`` (``make_views`` caches it and shuffles it each epoch).
        Streamed: a function ``epoch -> tf.data`` whose files are read in an
        order, and shuffled through a :data:`STREAM_SHUFFLE_BUFFER` of decoded
        images, that are pure functions of ``(seed, epoch)`` (no cache, no
        second shuffle): a resumed run reads each epoch in its order again.
        ``indices``: the views will carry each image's position
        (``make_views(indices=True)``), so a streamed split is one ``tf.data``
        that keeps its files in one order, and ``make_views`` shuffles it each
        epoch in its buffer of :data:`STREAM_SHUFFLE_BUFFER`, after counting.

        >>> from keras_contrastive.pretraining.sources import open_split
        >>> images, options = open_split("fashion_mnist", "test").training_images(100)
        >>> int(images.cardinality()), options
        (100, {})
        """
        if self.in_memory:
            images, image_labels = self.arrays(limit)
            return (tf.data.Dataset.from_tensor_slices((images, image_labels) if labels
                                                       else images), {})

        def read(shuffle, file_seed):
            images = self.open(limit, shuffle, file_seed)
            return images if labels else images.map(lambda image, label: image)

        if indices:  # an image's position must not change between epochs
            return read(False, None), {"cache": False, "shuffle_buffer": STREAM_SHUFFLE_BUFFER}
        from keras_contrastive.views.pipeline import epoch_seed

        def stream(epoch):
            return read(True, epoch_seed(seed or 0, epoch)).shuffle(
                STREAM_SHUFFLE_BUFFER, seed=epoch_seed(seed or 0, epoch, 1),
                reshuffle_each_iteration=False)

        return stream, {"cache": False, "shuffle_buffer": 0}

    def evaluation_data(self, limit=None):
        """What evaluation reads: ``(images, labels)`` arrays of the first ``limit``
        images, or, for a streamed split without ``limit``, the unbatched
        ``tf.data`` of all of them (evaluation then holds their features, not
        the images).

        >>> from keras_contrastive.pretraining.sources import open_split
        >>> images, labels = open_split("fashion_mnist", "train").evaluation_data(10)
        >>> images.shape
        (10, 28, 28, 1)
        """
        if self.in_memory or limit:
            return self.arrays(limit)
        return self.open(None, False, None)


def _named_split(name, split):
    images, labels = kc_data.load_named_arrays(name, split)
    return Split(name, split, len(images), tuple(images.shape[1:]), True, None, (images, labels))


def _folder_root(path, split):
    """``path/split`` if the folder has ``train/`` or ``test/``, else ``path`` itself."""
    split_dir = os.path.join(path, split)
    if os.path.isdir(split_dir):
        return split_dir
    present = [name for name in ("train", "test") if os.path.isdir(os.path.join(path, name))]
    if present:
        raise ValueError(f"{path!r} has a {present[0]}/ folder but no {split}/ folder: give "
                         "both train/ and test/ (each holding the class folders), or the "
                         "class folders alone (used for both splits).")
    return path


def label_names(dataset):
    """The class names of ``dataset`` in label order: a folder's training class
    folders (what every split's labels index), or None for the named arrays
    and TFDS names.  Nothing is decoded.

    >>> import os, tempfile
    >>> from keras_contrastive.pretraining.sources import label_names
    >>> root = tempfile.mkdtemp()
    >>> for name in ("train/dog", "train/cat", "test/cat"):
    ...     os.makedirs(os.path.join(root, name))
    ...     open(os.path.join(root, name, "1.png"), "wb").close()
    >>> label_names(root), label_names("fashion_mnist")
    (['cat', 'dog'], None)
    """
    if dataset in kc_data.NAMED_ARRAYS or not os.path.isdir(dataset):
        return None
    return list_class_folders(_folder_root(dataset, "train"))[0]


def _folder_split(path, split, image_size, scan=None):
    # the label map is the training split's, for every split: a class missing from
    # test/ shifts no label, and a test/ class that train/ lacks is refused
    scan = scan or scan_image_directory(_folder_root(path, split),
                                        class_names=label_names(path) or None)
    if scan.files and scan.labels is None:
        raise ValueError(f"{path!r} split {split!r} has no labels (no class sub-folders): "
                         "evaluation needs them.")

    def open_(limit, shuffle, seed):
        return from_scan(scan, image_size=image_size, shuffle_files=shuffle, seed=seed,
                         limit=limit)

    shape = tuple(open_(None, False, None).element_spec[0].shape)  # refuses mixed sizes
    return Split(path, split, len(scan.files), shape, False, open_,
                 class_names=list(scan.class_names)), scan


def _tfds_split(name, split, image_size):
    try:
        return _read_tfds_split(name, split, image_size)
    except ValueError as error:  # ImageNet's held-out images are its "validation" split
        if split != "test" or "cannot read split" not in str(error):
            raise
        return _read_tfds_split(name, "validation", image_size)


def _read_tfds_split(name, split, image_size):
    def open_(limit, shuffle, seed):
        return kc_data.from_tfds(name, split=split if limit is None else f"{split}[:{limit}]",
                                 image_size=image_size, shuffle_files=shuffle, seed=seed)

    dataset = open_(None, False, None)
    shape = tuple(dataset.element_spec[0].shape)
    if None in shape:
        raise ValueError(f"the images of TFDS data set {name!r} have several sizes "
                         f"({shape}): set image_size to resize them.")
    count = int(dataset.cardinality())
    if count < 0:  # unknown: count by streaming through it once
        count = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
    return Split(name, split, count, shape, False, open_)


def open_split(dataset, split, image_size=None):
    """One labelled split of ``dataset``: a name of ``data.NAMED_ARRAYS``
    (``fashion_mnist``, ``fashion_mnist_tinted``), a folder (``train``/``test``
    sub-folders each holding class sub-folders, or class sub-folders alone, used
    for both splits), or a TFDS name prepared in TFDS' data dir (its
    ``validation`` split stands for ``test`` where it has no ``test``, as
    ImageNet).  Folder and TFDS images are resized to ``image_size`` when it is
    set.

    Example:

    >>> from keras_contrastive.pretraining.sources import open_split
    >>> open_split("fashion_mnist_tinted", "test").image_shape
    (28, 28, 3)
    """
    return open_splits(dataset, (split,), image_size)[0]


def open_splits(dataset, splits=("train", "test"), image_size=None):
    """:func:`open_split` of each of ``splits``; a folder used for several splits
    is scanned once.

    >>> from keras_contrastive.pretraining.sources import open_splits
    >>> [s.count for s in open_splits("fashion_mnist")]
    [60000, 10000]
    """
    if dataset in kc_data.NAMED_ARRAYS:
        return [_named_split(dataset, split) for split in splits]
    _check_dataset_name(dataset)
    if os.path.isdir(dataset):
        opened, scans = [], {}
        for split in splits:
            root = _folder_root(dataset, split)
            result, scans[root] = _folder_split(dataset, split, image_size, scans.get(root))
            opened.append(result)
        return opened
    return [_tfds_split(dataset, split, image_size) for split in splits]


# a TFDS name: ``name[/config][:version]``, the name in lower case, digits and underscores
_TFDS_NAME = re.compile(r"[a-z][a-z0-9_]*(/[^/:]+)?(:[0-9.*]+)?")


def _check_dataset_name(dataset):
    """Refuses, in the user's words, a data set that is neither a named set, a folder
    nor a TFDS name: a path that does not exist ("no such folder"), a file, or a
    misspelt name (with the close matches).

    >>> from keras_contrastive.pretraining.sources import _check_dataset_name
    >>> _check_dataset_name("fashion-mnist")
    Traceback (most recent call last):
    ...
    ValueError: unknown data set 'fashion-mnist': did you mean 'fashion_mnist'? ...
    """
    if os.path.isdir(dataset):
        return
    if os.path.isfile(dataset):
        raise ValueError(f"data set {dataset!r} is a file; give a folder of images (class "
                         "sub-folders, optionally under train/ and test/).")
    parent = os.path.dirname(dataset.rstrip("/\\"))
    path_like = (dataset.startswith((".", "/", "~")) or "\\" in dataset
                 or bool(parent) and os.path.isdir(parent))
    if path_like:
        raise ValueError(f"no such folder: {dataset!r}.")
    if not _TFDS_NAME.fullmatch(dataset):
        names = sorted(kc_data.NAMED_ARRAYS)
        guess = dataset.strip().lower().replace("-", "_").replace(" ", "_")
        close = difflib.get_close_matches(guess, names, n=3, cutoff=0.75)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown data set {dataset!r}: {hint}A data set is one of {names}, "
                         "a folder of images, or a TFDS name (lower case, e.g. 'cifar10').")


def load_labelled(dataset, split, image_size=None):
    """``(images, labels)`` NumPy arrays of a named data set's split (all its images:
    :func:`open_split` reads less).

    ``dataset`` is a name of ``data.NAMED_ARRAYS`` (``fashion_mnist``,
    ``fashion_mnist_tinted``), a folder (``train``/``test`` sub-folders each
    holding class sub-folders, or class sub-folders alone, used for both
    splits), or a TFDS name prepared in TFDS' data dir.

    Example:

    >>> from keras_contrastive.pretraining import load_labelled
    >>> images, labels = load_labelled("fashion_mnist", "test")
    >>> images.shape, labels.shape
    ((10000, 28, 28, 1), (10000,))
    """
    return open_split(dataset, split, image_size).arrays()
