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
    """One split of a named data set, opened but not read (labelled, or a
    folder of images without class sub-folders: ``labelled`` False).

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
        labelled: whether its images have labels (a folder without class
            sub-folders has none: ``open`` then yields images alone, and
            ``arrays`` returns ``labels=None``).
        root: the folder its images were read from (None for named and TFDS
            data sets): for a folder without ``test/``, the same for both splits.

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
    labelled: bool = True
    root: str = None

    def arrays(self, limit=None):
        """``(images, labels)`` NumPy arrays of the first ``limit`` images (all for
        ``None``); ``labels`` is None for an unlabelled folder."""
        if self.in_memory:
            images, labels = self.source_arrays
            return (images[:limit], labels[:limit]) if limit else (images, labels)
        images, labels = [], []
        for batch in self.open(limit, False, None).batch(1024).as_numpy_iterator():
            images.append(batch[0] if self.labelled else batch)
            labels.append(batch[1] if self.labelled else None)
        return np.concatenate(images), (np.concatenate(labels) if self.labelled else None)

    def require_labels(self, purpose="evaluation", flag="--eval-dataset"):
        """Raises a ValueError, in the user's words, if the split has no labels.

        >>> import os, tempfile
        >>> import numpy as np, tensorflow as tf
        >>> from keras_contrastive.pretraining.sources import open_split
        >>> root = tempfile.mkdtemp()
        >>> tf.io.write_file(os.path.join(root, "a.png"), tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)))
        >>> open_split(root, "train").require_labels()
        Traceback (most recent call last):
        ...
        ValueError: ... has no labels (its images are not in class sub-folders): evaluation needs them; ...
        """
        if not self.labelled:
            raise ValueError(
                f"{self.name!r} has no labels (its images are not in class sub-folders): "
                f"{purpose} needs them; pass {flag} with a labelled folder (class "
                "sub-folders) or a TFDS name.")

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
        if labels:
            self.require_labels("a method that reads labels (SupCon)", "--dataset")
        if self.in_memory:
            images, image_labels = self.arrays(limit)
            return (tf.data.Dataset.from_tensor_slices((images, image_labels) if labels
                                                       else images), {})

        def read(shuffle, file_seed):
            images = self.open(limit, shuffle, file_seed)
            return images if labels or not self.labelled else images.map(
                lambda image, label: image)

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


def _scan_split(path, split):
    # the label map is the training split's, for every split: a class missing from
    # test/ shifts no label, and a test/ class that train/ lacks is refused
    return scan_image_directory(_folder_root(path, split), class_names=label_names(path) or None)


def median_size(scan, log=print):
    """The size a folder of images of several sizes is resized to when no
    ``--image-size`` is given: the median height and the median width of its
    images (as shown, EXIF orientation applied), said in one line through
    ``log``; None when they all share one size (kept as it is).

    >>> import os, tempfile
    >>> import numpy as np, tensorflow as tf
    >>> from keras_contrastive.data.directory import scan_image_directory
    >>> from keras_contrastive.pretraining.sources import median_size
    >>> root = tempfile.mkdtemp()
    >>> for name, (h, w) in {"a": (20, 30), "b": (24, 32), "c": (40, 16)}.items():
    ...     tf.io.write_file(os.path.join(root, name + ".png"),
    ...                      tf.io.encode_png(np.zeros((h, w, 3), np.uint8)))
    >>> median_size(scan_image_directory(root), log=lambda line: None)
    (24, 30)
    """
    sizes = {shape[:2] for shape in scan.shapes}
    if len(sizes) <= 1:
        return None
    heights, widths = zip(*(shape[:2] for shape in scan.shapes))
    size = int(np.median(heights)), int(np.median(widths))
    log(f"{scan.path}: its {len(scan.shapes)} images have {len(sizes)} different sizes (from "
        f"{min(heights)}x{min(widths)} to {max(heights)}x{max(widths)}); all are resized to "
        f"their median size, {size[0]}x{size[1]} (height x width). Pass --image-size N or "
        "--image-size H,W to choose another.")
    return size


def _folder_split(path, split, image_size, scan):
    def open_(limit, shuffle, seed):
        return from_scan(scan, image_size=image_size, shuffle_files=shuffle, seed=seed,
                         limit=limit)

    element = open_(None, False, None).element_spec
    shape = tuple((element[0] if scan.labels is not None else element).shape)
    return Split(path, split, len(scan.files), shape, False, open_,
                 class_names=list(scan.class_names), labelled=scan.labels is not None,
                 root=scan.path)


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


def open_split(dataset, split, image_size=None, log=print):
    """One split of ``dataset``: a name of ``data.NAMED_ARRAYS``
    (``fashion_mnist``, ``fashion_mnist_tinted``), a folder (``train``/``test``
    sub-folders each holding class sub-folders, or class sub-folders alone, used
    for both splits; or images without class sub-folders, directly in it or in
    ``train/``: an unlabelled split, ``Split.labelled`` False), or a TFDS name prepared in TFDS' data dir (its
    ``validation`` split stands for ``test`` where it has no ``test``, as
    ImageNet).  Folder and TFDS images are resized to ``image_size`` when it is
    set.

    Example:

    >>> from keras_contrastive.pretraining.sources import open_split
    >>> open_split("fashion_mnist_tinted", "test").image_shape
    (28, 28, 3)
    """
    return open_splits(dataset, (split,), image_size, log)[0]


def open_splits(dataset, splits=("train", "test"), image_size=None, log=print):
    """:func:`open_split` of each of ``splits``; a folder used for several splits
    is scanned once.  A folder of images of several sizes, without
    ``image_size``, is resized to the median size of the first split's images
    (:func:`median_size`, which says so through ``log``).

    >>> from keras_contrastive.pretraining.sources import open_splits
    >>> [s.count for s in open_splits("fashion_mnist")]
    [60000, 10000]
    """
    if dataset in kc_data.NAMED_ARRAYS:
        return [_named_split(dataset, split) for split in splits]
    _check_dataset_name(dataset)
    if os.path.isdir(dataset):
        scans = {}
        for split in splits:
            root = _folder_root(dataset, split)
            scans[root] = scans.get(root) or _scan_split(dataset, split)
        if image_size is None:  # images of several sizes: the first split's median size
            image_size = median_size(scans[_folder_root(dataset, splits[0])], log=log)
        return [_folder_split(dataset, split, image_size, scans[_folder_root(dataset, split)])
                for split in splits]
    return [_tfds_split(dataset, split, image_size) for split in splits]


def open_training_splits(dataset, image_size=None, log=print):
    """``(train, test)`` of a pretraining run (:func:`open_splits`), or ``(train,
    None)`` for a folder without labels (images directly in it, or in ``train/``,
    with no class sub-folders): it is pretrained on, not evaluated.

    >>> import os, tempfile
    >>> import numpy as np, tensorflow as tf
    >>> from keras_contrastive.pretraining.sources import open_training_splits
    >>> root = tempfile.mkdtemp()
    >>> for name in ("a.png", "b.png"):
    ...     tf.io.write_file(os.path.join(root, name), tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)))
    >>> train, test = open_training_splits(root)
    >>> train.count, train.labelled, test
    (2, False, None)
    """
    if os.path.isdir(dataset) and dataset not in kc_data.NAMED_ARRAYS and not label_names(dataset):
        return open_splits(dataset, ("train",), image_size, log)[0], None
    return tuple(open_splits(dataset, ("train", "test"), image_size, log))


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
