"""A directory of image files as a `tf.data.Dataset` of uint8 images (+ labels).

Every file is decoded once, eagerly, when the directory is scanned: files that
are not readable images (corrupt, truncated, empty, another format) are
skipped, counted and reported with a warning, so the dataset never fails later
inside `tf.data`.  A file deleted or replaced by a non-image between the scan
and its reading is skipped, counted (``scan.skipped``) and warned about too,
its place in the epoch taken by the next readable file (the epoch keeps its
length).  JPEG, PNG, BMP and GIF (first frame) are supported; a JPEG's EXIF
orientation is followed (`data.orientation`).

Class labels come from one listing of class folders (`list_class_folders`),
which the other splits of a data set reuse (``class_names=``), so a class
missing from one split does not shift the labels of the others.  Known junk
(`JUNK_NAMES`, names starting with "."), empty class folders and links out of
the root are ignored, with a warning naming them.
"""
import dataclasses
import os
import threading
import warnings

import numpy as np
import tensorflow as tf

from keras_contrastive.data.orientation import exif_orientation
from keras_contrastive.data.preprocess import prepare_images

_LABEL_MODES = ("inferred", None)
_CHANNELS = (1, 3, 4)
_WARN_NAMES = 5  # skipped files named in the warning; the rest are counted
_READ_BATCH = 32  # files read per Python call when iterating (its cost is per call)

#: Folder and file names that are never images or classes: macOS archive
#: metadata, Synology thumbnails, Python caches, Windows and macOS desktop files.
JUNK_NAMES = frozenset(["__MACOSX", "@eaDir", "__pycache__", ".DS_Store", "Thumbs.db",
                        "desktop.ini"])


@dataclasses.dataclass
class ImageDirectoryScan:
    """What `scan_image_directory` found.

    Attributes:
        path: the scanned directory.
        files: paths of the readable images, sorted.
        labels: one int label per file (index into `class_names`), or None
            when the images do not sit in class sub-folders.
        class_names: the label map: class names in label order ([] if none).
        shapes: ``(height, width, channels)`` of each file as shown (EXIF
            orientation applied).
        skipped: ``(path, reason)`` for every file that was not used; files
            found deleted or changed when read later are added.
        ignored: ``(path, reason)`` for every folder (or link) ignored.
        stats: ``(size, mtime_ns)`` of each file when scanned.
        orientations: the EXIF orientation (1-8, 1: as stored) of each file
            when scanned, applied when the file is read for training.
        warned: ``(skipped, ignored)`` counts already warned about: a scan
            opened again (`from_scan`) warns only of what is new.
    """

    path: str
    files: list
    labels: list
    class_names: list
    shapes: list
    skipped: list
    ignored: list = dataclasses.field(default_factory=list)
    stats: list = dataclasses.field(default_factory=list)
    orientations: list = dataclasses.field(default_factory=list)
    warned: tuple = dataclasses.field(default=(0, 0), repr=False, compare=False)


def _is_junk(name):
    return name.startswith(".") or name in JUNK_NAMES


def _inside(real, root_real):
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


class _Walk:
    """Walks below a root: junk and hidden names skipped; a link followed only
    to a target inside the root that does not enclose the link (no loops),
    and each real folder entered once.  ``ignored`` and ``skipped`` collect
    ``(path, reason)`` of the folders and files passed over."""

    def __init__(self, root):
        self.root_real = os.path.realpath(root)
        self.visited = set()
        self.ignored, self.skipped = [], []

    def link_problem(self, path):
        """Why the link ``path`` is not followed, or None (not a link, or a good one)."""
        if not os.path.islink(path):
            return None
        real = os.path.realpath(path)
        if not _inside(real, self.root_real):
            return f"a link to {real}, outside {self.root_real}"
        if _inside(os.path.realpath(os.path.dirname(path)), real):
            return f"a link to {real}, a folder enclosing it (a loop)"
        return None

    def files(self, directory):
        """Visible, non-junk files below ``directory``, in sorted walk order."""
        return list(self.iter_files(directory))

    def iter_files(self, directory):
        """`files`, one at a time (the first is found without walking the rest)."""
        real = os.path.realpath(directory)
        if real in self.visited:  # reached again through a link: its files are read once
            self.ignored.append((directory, f"a link to {real}, read already"))
            return
        self.visited.add(real)
        try:
            names = sorted(os.listdir(directory))
        except OSError as error:
            self.ignored.append((directory, f"unreadable ({error.strerror or error})"))
            return
        folders = []
        for name in names:
            full = os.path.join(directory, name)
            problem = self.link_problem(full)
            if _is_junk(name):
                if os.path.isdir(full):
                    self.ignored.append((full, "junk folder"))
            elif problem:
                (self.ignored if os.path.isdir(full) else self.skipped).append((full, problem))
            elif os.path.isdir(full):
                folders.append(full)
            elif os.path.isfile(full):
                yield full
            else:
                self.skipped.append((full, "not a regular file (a broken link?)"))
        for folder in folders:
            yield from self.iter_files(folder)


def list_class_folders(path):
    """The class folders of ``path`` (sorted names: the label map) and the
    ``(path, reason)`` of the sub-folders ignored: junk (`JUNK_NAMES`, hidden
    names), empty ones (no file below them), links out of ``path`` or
    looping back to it, and links into another class folder (its images
    would count twice).  Nothing is decoded.

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.data.directory import list_class_folders
    >>> root = tempfile.mkdtemp()
    >>> for name in ("dog", "cat", "__MACOSX", "empty"):
    ...     os.mkdir(os.path.join(root, name))
    >>> for name in ("dog", "cat"):
    ...     open(os.path.join(root, name, "1.png"), "wb").close()
    >>> names, ignored = list_class_folders(root)
    >>> names, sorted(os.path.basename(p) for p, _ in ignored)
    (['cat', 'dog'], ['__MACOSX', 'empty'])
    """
    walk = _Walk(path)
    entries = [name for name in sorted(os.listdir(path))
               if os.path.isdir(os.path.join(path, name))]
    # the real folders (not links) a link may point into: it would repeat their images
    folders = {os.path.realpath(os.path.join(path, name)): name for name in entries
               if not _is_junk(name) and not os.path.islink(os.path.join(path, name))}
    names, ignored = [], []
    for name in entries:
        full = os.path.join(path, name)
        problem = walk.link_problem(full)
        into = os.path.islink(full) and next(
            (other for real, other in folders.items()
             if _inside(os.path.realpath(full), real)), None)
        if _is_junk(name):
            ignored.append((full, "junk folder"))
        elif problem:
            ignored.append((full, problem))
        elif into:
            ignored.append((full, f"a link into the class folder {into!r}"))
        elif next(_Walk(path).iter_files(full), None) is None:
            ignored.append((full, "empty: no file to read in it"))
        else:
            names.append(name)
    return names, ignored


def _read_file(path):
    """``(contents, (size, mtime_ns))`` of a file, or raises ValueError."""
    try:
        with open(path, "rb") as stream:
            stat = os.fstat(stream.fileno())
            return stream.read(), (stat.st_size, stat.st_mtime_ns)
    except OSError as error:
        raise ValueError(f"unreadable ({error.strerror or error})") from error


def _shown_shape(contents):
    """``((H, W, C) as shown, EXIF orientation)`` of encoded image bytes (the
    shape with the orientation applied), or raises ValueError."""
    try:
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = error.message.split(" [Op:")[0].split("}} ")[-1].strip()
        raise ValueError(message) from error
    shape = tuple(int(n) for n in image.shape)
    if len(shape) != 3 or shape[-1] not in (1, 2, 3, 4) or 0 in shape:
        raise ValueError(f"unsupported image shape {shape}")
    orientation = exif_orientation(contents)
    if orientation >= 5:  # turned a quarter: height and width swap
        shape = (shape[1], shape[0], shape[2])
    return shape, orientation
def _check_class_names(class_names):
    names = list(class_names)
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"`class_names` must be distinct folder names (strings); received "
                         f"class_names={class_names!r}.")
    return names


def scan_image_directory(path, labels="inferred", class_names=None):
    """Finds and validates the image files under a directory.

    Each file is decoded once (eagerly, first frame for GIFs) to check it is
    a readable image and record its shape.  With ``labels="inferred"`` and
    class folders present (`list_class_folders`: junk, empty folders and
    links out of ``path`` are ignored), each class folder is a class (images
    nested deeper belong to their top folder) and files directly in ``path``
    are skipped.  The label map is the sorted class folder names, or
    ``class_names`` when given: the training split's map, for another split
    of the same data set (a class it lacks keeps its label; a folder that is
    not in it is refused).  Without class folders, or with ``labels=None``,
    all images below ``path`` are used without labels.  Hidden and junk
    names are ignored; links are followed only inside ``path``.

    Args:
        path: the directory.
        labels: ``"inferred"`` (labels from class sub-folders) or ``None``.
        class_names: optional label map (class folder names in label order).

    Returns:
        An `ImageDirectoryScan`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a directory.
        ValueError: ``labels`` is neither ``"inferred"`` nor ``None``; or, with
            ``class_names``, a class folder not in it, or no class folder.

    Example:

    >>> import os, tempfile, tensorflow as tf
    >>> from keras_contrastive.data.directory import scan_image_directory
    >>> root = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(root, "cats"))
    >>> tf.io.write_file(os.path.join(root, "cats", "a.png"),
    ...                  tf.io.encode_png(tf.zeros([4, 4, 3], tf.uint8)))
    >>> scan = scan_image_directory(root)
    >>> scan.class_names, scan.labels, scan.shapes
    (['cats'], [0], [(4, 4, 3)])
    >>> scan_image_directory(root, class_names=["birds", "cats"]).labels
    [1]
    """
    if labels not in _LABEL_MODES:
        raise ValueError(f"`labels` must be 'inferred' or None; received labels={labels!r}.")
    if class_names is not None:
        if labels is None:
            raise ValueError("`class_names` is a label map; it needs labels='inferred', "
                             "received labels=None.")
        class_names = _check_class_names(class_names)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Image directory {path} does not exist.")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"{path} is not a directory.")

    walk = _Walk(path)
    candidates, skipped, ignored = [], [], []
    found = []
    if labels == "inferred":
        found, ignored = list_class_folders(path)
    if class_names is not None and labels == "inferred":
        unknown = [name for name in found if name not in class_names]
        if unknown:
            raise ValueError(
                f"{path} has class folder(s) {unknown} that the training split lacks (its "
                f"classes: {class_names}): their images would get no label. Remove them, or "
                "add them to the training split.")
        if not found:
            raise ValueError(f"{path} has no class folders; the training split has classes "
                             f"{class_names}.")
    if found:
        class_names = class_names if class_names is not None else found
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if not _is_junk(name) and not os.path.isdir(full):
                skipped.append((full, "not inside a class sub-folder"))
        walk.visited.add(walk.root_real)
        for name in found:
            index = class_names.index(name)
            candidates += [(f, index) for f in walk.files(os.path.join(path, name))]
    else:
        class_names = []
        candidates = [(f, None) for f in walk.files(path)]
    ignored += [entry for entry in walk.ignored if entry not in ignored]
    skipped += walk.skipped

    files, file_labels, shapes, stats, orientations = [], [], [], [], []
    for file, label in candidates:
        try:
            contents, stat = _read_file(file)
            shape, orientation = _shown_shape(contents)
        except ValueError as error:
            skipped.append((file, str(error)))
            continue
        files.append(file)
        file_labels.append(label)
        shapes.append(shape)
        stats.append(stat)
        orientations.append(orientation)
    return ImageDirectoryScan(
        path=path,
        files=files,
        labels=file_labels if class_names else None,
        class_names=class_names,
        shapes=shapes,
        skipped=skipped,
        ignored=ignored,
        stats=stats,
        orientations=orientations,
    )


def _check_image_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    try:
        height, width = (int(n) for n in image_size)
    except (TypeError, ValueError):
        height = width = 0
    if height <= 0 or width <= 0 or len(tuple(image_size)) != 2:
        raise ValueError(
            f"`image_size` must be None, a positive int or (height, width); "
            f"received image_size={image_size!r}."
        )
    return height, width


def _named(entries):
    names = ", ".join(f"{f} ({why})" for f, why in entries[:_WARN_NAMES])
    more = len(entries) - _WARN_NAMES
    return names + (f" and {more} more" if more > 0 else "")


def _warn_skipped(scan):
    """Warns of the scan's ignored folders and skipped files, once: again only when
    there are more (a pipeline opening the same scan twice said it twice, the second
    time from inside autograph)."""
    skipped, ignored = scan.warned
    scan.warned = (len(scan.skipped), len(scan.ignored))
    if len(scan.ignored) > ignored:
        warnings.warn(
            f"from_directory: ignored {len(scan.ignored)} folder(s) in {scan.path}: "
            f"{_named(scan.ignored)}. `scan_image_directory(path).ignored` lists them all.",
            stacklevel=3,
        )
    if len(scan.skipped) > skipped:
        # a file lost after the scan stays in `files` and is added to `skipped`
        total = len(set(scan.files).union(path for path, _ in scan.skipped))
        warnings.warn(
            f"from_directory: skipped {len(scan.skipped)} of {total} files in {scan.path} "
            f"that are not readable images: {_named(scan.skipped)}. "
            "`scan_image_directory(path).skipped` lists them all.",
            stacklevel=3,
        )


def from_directory(
    path, image_size=None, channels=3, labels="inferred", shuffle_files=False, seed=None,
    class_names=None, encoded=False,
):
    """Image files under a directory as a `tf.data.Dataset`.

    Files are found and validated by `scan_image_directory`; the unreadable
    ones are skipped with a warning naming them.  Images are decoded from
    disk on iteration (in file order unless ``shuffle_files``), turned as
    their EXIF orientation says.

    Args:
        path: the directory.  With class sub-folders (``path/cat/1.png``,
            ``path/dog/2.jpg``) and ``labels="inferred"``, each image gets the
            index of its sub-folder in the sorted sub-folder names (or in
            ``class_names``).
        image_size: ``None`` to keep the images' size (all must then share
            one), an int, or ``(height, width)`` to resize to
            (``data.preprocess.prepare_images``: bilinear with antialiasing,
            rounded back to uint8, as the exported serving signatures).
        channels: 1 (grayscale), 3 (RGB) or 4 (RGBA); images are converted.
        labels: ``"inferred"`` or ``None`` (images only).
        shuffle_files: shuffle the file order, anew on every iteration.
        seed: seed of that shuffle.
        class_names: the label map to use (the training split's
            ``scan.class_names``) instead of this folder's own listing.
        encoded: ``True`` yields the files' bytes undecoded, for
            ``make_views(..., fused_decode=True)`` (see `from_scan`).

    Returns:
        An unbatched dataset of uint8 ``[H, W, channels]`` images, or of
        ``(image, label)`` pairs (int64 labels) when the images sit in class
        sub-folders and ``labels="inferred"``.

    Raises:
        ValueError: bad arguments, no readable image under ``path``, images
            of different sizes with ``image_size=None``, or a class folder
            that ``class_names`` lacks.

    Example:

    >>> import os, tempfile, tensorflow as tf
    >>> from keras_contrastive.data import from_directory
    >>> root = tempfile.mkdtemp()
    >>> for name in ("cat", "dog"):
    ...     os.mkdir(os.path.join(root, name))
    ...     tf.io.write_file(os.path.join(root, name, "x.png"),
    ...                      tf.io.encode_png(tf.zeros([5, 5, 3], tf.uint8)))
    >>> ds = from_directory(root, image_size=(8, 8), channels=1)
    >>> [(tuple(x.shape), int(y)) for x, y in ds]
    [((8, 8, 1), 0), ((8, 8, 1), 1)]
    """
    if channels not in _CHANNELS:
        raise ValueError(f"`channels` must be 1, 3 or 4; received channels={channels!r}.")
    _check_image_size(image_size)
    scan = scan_image_directory(path, labels=labels, class_names=class_names)
    return from_scan(scan, image_size=image_size, channels=channels,
                     shuffle_files=shuffle_files, seed=seed, encoded=encoded)


class _CheckedReader:
    """Reads the scanned files again when the dataset is iterated (in a
    ``tf.numpy_function``; a file as scanned takes the scan's EXIF orientation,
    so only its decoding is left to each epoch): a file deleted, unreadable or changed into a
    non-image (or, without resizing, an image of another size) since the
    scan is skipped, added to ``scan.skipped`` and warned about once, and
    the next readable file of the first ``count`` takes its place."""

    def __init__(self, scan, count, shown_size):
        self.scan, self.count, self.shown_size = scan, count, shown_size
        self.bad = set()
        self.lock = threading.Lock()

    def _contents(self, index):
        """``(contents, EXIF orientation)`` of a file: the scan's orientation, unless the
        file was replaced since (then checked again, and its own)."""
        file = self.scan.files[index]
        contents, stat = _read_file(file)
        if stat == tuple(self.scan.stats[index]):
            return contents, self.scan.orientations[index]
        shape, orientation = _shown_shape(contents)  # replaced since the scan: check it again
        if self.shown_size is not None and shape[:2] != self.shown_size:
            raise ValueError(f"now {shape[0]}x{shape[1]}, not the "
                             f"{self.shown_size[0]}x{self.shown_size[1]} of the others")
        return contents, orientation

    def _skip(self, index, reason):
        file = self.scan.files[index]
        with self.lock:
            if index in self.bad:
                return
            self.bad.add(index)
            self.scan.skipped.append((file, f"changed after the scan: {reason}"))
        warnings.warn(
            f"from_directory: skipped {file}, which was deleted or changed after the scan "
            f"({reason}); {len(self.bad)} such file(s) so far, the next readable file "
            "takes each one's place. `scan.skipped` lists them.", stacklevel=2)

    def __call__(self, indices):
        """``(contents, orientations, indices used)`` of a batch of file indices."""
        read = [self._read_one(int(index)) for index in indices]
        return (np.array([r[0] for r in read], dtype=object),
                np.array([r[1] for r in read], np.int32), np.array([r[2] for r in read], np.int64))

    def _read_one(self, index):
        for step in range(self.count):
            current = (index + step) % self.count
            if current in self.bad:
                continue
            try:
                contents, orientation = self._contents(current)
            except ValueError as error:
                self._skip(current, str(error))
                continue
            return contents, orientation, current
        raise ValueError(f"none of the {self.count} image files of {self.scan.path} can be "
                         "read any more: they were deleted or changed after the scan.")


def from_scan(scan, image_size=None, channels=3, shuffle_files=False, seed=None, limit=None,
              encoded=False):
    """The images of a `scan_image_directory` result as a `tf.data.Dataset`
    (what `from_directory` returns), without scanning the folder again.

    Images are decoded from disk on iteration, so the dataset streams: memory
    does not grow with the number of files.  A file deleted or changed into
    a non-image since the scan is skipped, counted in ``scan.skipped`` and
    warned about, and the next readable file takes its place (the epoch
    keeps its length).  ``limit`` keeps the first N files (before
    ``shuffle_files``); the other arguments are `from_directory`'s.

    ``encoded=True``: the files are read but not decoded; the elements are
    dicts ``{"encoded": bytes, "orientation": EXIF orientation}`` (plus
    ``"label"``), for ``make_views(..., fused_decode=True)``, which decodes
    only each random crop's window of a JPEG (`views.fused`).  ``image_size``
    is then ignored (the crops are resized to the augmentation's size) and
    the images may differ in size.

    Example:

    >>> import os, tempfile, tensorflow as tf
    >>> from keras_contrastive.data.directory import from_scan, scan_image_directory
    >>> root = tempfile.mkdtemp()
    >>> for name in ("a.png", "b.png", "c.png"):
    ...     tf.io.write_file(os.path.join(root, name),
    ...                      tf.io.encode_png(tf.zeros([5, 5, 3], tf.uint8)))
    >>> scan = scan_image_directory(root)
    >>> ds = from_scan(scan, image_size=4, channels=1, limit=2)
    >>> int(ds.cardinality()), ds.element_spec.shape
    (2, TensorShape([4, 4, 1]))
    """
    if channels not in _CHANNELS:
        raise ValueError(f"`channels` must be 1, 3 or 4; received channels={channels!r}.")
    size = None if encoded else _check_image_size(image_size)
    if not scan.files:
        raise ValueError(
            f"No readable image files in {scan.path} ({len(scan.skipped)} other files"
            + (f", e.g. {scan.skipped[0][0]}: {scan.skipped[0][1]}" if scan.skipped else "")
            + ")."
        )
    if scan.skipped or scan.ignored:
        _warn_skipped(scan)
    count = len(scan.files) if limit is None else min(int(limit), len(scan.files))
    shown_size = None
    if size is None and not encoded:
        sizes = {}
        for file, shape in zip(scan.files[:count], scan.shapes[:count]):
            sizes.setdefault(shape[:2], file)
        if len(sizes) > 1:
            examples = "; ".join(f"{h}x{w} ({f})" for (h, w), f in list(sizes.items())[:3])
            raise ValueError(
                f"Images in {scan.path} have {len(sizes)} different sizes, e.g. {examples}. "
                "Pass image_size=(height, width) to resize them all."
            )
        shown_size = next(iter(sizes))
        target_shape = [*shown_size, channels]
    else:
        target_shape = [*(size or (None, None)), channels]
    if len(scan.stats) != len(scan.files) or len(scan.orientations) != len(scan.files):
        # a scan made by hand: record the files as they are
        scan.stats, scan.orientations = [], []
        for file in scan.files:
            contents, stat = _read_file(file)
            scan.stats.append(stat)
            scan.orientations.append(exif_orientation(contents))
    reader = _CheckedReader(scan, count, shown_size)
    labels = None if scan.labels is None else tf.constant(scan.labels[:count], tf.int64)

    def read(indices):  # in Python, a batch of files per call (the call's cost is shared)
        contents, orientations, used = tf.numpy_function(
            reader, [indices], [tf.string, tf.int32, tf.int64], stateful=True)
        for value in (contents, orientations, used):
            value.set_shape(indices.shape)
        return contents, orientations, used

    def load(contents, orientation, used):
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
        # the channels, the resize and the EXIF turn are serve_bytes' (data.preprocess)
        image = prepare_images(image, channels, size, orientation)
        image.set_shape(target_shape)
        return image if labels is None else (image, tf.gather(labels, used))

    ds = tf.data.Dataset.range(count)
    if shuffle_files:
        ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(_READ_BATCH).map(read, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if encoded:
        def keep(contents, orientation, used):
            element = {"encoded": contents, "orientation": orientation}
            if labels is not None:
                element["label"] = tf.gather(labels, used)
            return element

        ds = ds.map(keep)
    else:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    # every index read yields one image (a lost file's place is taken by another)
    return ds.apply(tf.data.experimental.assert_cardinality(count))
