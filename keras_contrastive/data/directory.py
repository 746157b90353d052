"""A directory of image files as a `tf.data.Dataset` of uint8 images (+ labels).

Every file is decoded once, eagerly, when the directory is scanned: files that
are not readable images (corrupt, truncated, empty, another format) are
skipped, counted and reported with a warning, so the dataset never fails later
inside `tf.data`.  JPEG, PNG, BMP and GIF (first frame) are supported.
"""
import dataclasses
import os
import warnings

import tensorflow as tf

_LABEL_MODES = ("inferred", None)
_CHANNELS = (1, 3, 4)
_WARN_NAMES = 5  # skipped files named in the warning; the rest are counted


@dataclasses.dataclass
class ImageDirectoryScan:
    """What `scan_image_directory` found.

    Attributes:
        path: the scanned directory.
        files: paths of the readable images, sorted.
        labels: one int label per file (index into `class_names`), or None
            when the images do not sit in class sub-folders.
        class_names: sorted names of the class sub-folders ([] if none).
        shapes: native ``(height, width, channels)`` of each file.
        skipped: ``(path, reason)`` for every file that was not used.
    """

    path: str
    files: list
    labels: list
    class_names: list
    shapes: list
    skipped: list


def _visible(name):
    return not name.startswith(".")


def _files_under(directory):
    """All visible files below `directory`, sorted, following the sorted walk."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        found.extend(os.path.join(root, f) for f in sorted(files) if _visible(f))
    return found


def _decode_native(path):
    """Returns the native (H, W, C) shape of an image file, or raises ValueError."""
    try:
        with open(path, "rb") as stream:
            contents = stream.read()
    except OSError as error:
        raise ValueError(f"unreadable ({error.strerror or error})") from error
    try:
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = error.message.split(" [Op:")[0].split("}} ")[-1].strip()
        raise ValueError(message) from error
    shape = tuple(int(n) for n in image.shape)
    if len(shape) != 3 or shape[-1] not in (1, 2, 3, 4) or 0 in shape:
        raise ValueError(f"unsupported image shape {shape}")
    return shape


def scan_image_directory(path, labels="inferred"):
    """Finds and validates the image files under a directory.

    Each file is decoded once (eagerly, first frame for GIFs) to check it is
    a readable image and record its shape.  With ``labels="inferred"`` and
    sub-folders present, every non-hidden sub-folder of ``path`` is a class
    (sorted by name; images nested deeper belong to their top sub-folder) and
    files directly in ``path`` are skipped.  Without sub-folders, or with
    ``labels=None``, all images below ``path`` are used without labels.
    Hidden files and folders (names starting with ".") are ignored.

    Args:
        path: the directory.
        labels: ``"inferred"`` (labels from class sub-folders) or ``None``.

    Returns:
        An `ImageDirectoryScan`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a directory.
        ValueError: ``labels`` is neither ``"inferred"`` nor ``None``.

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
    """
    if labels not in _LABEL_MODES:
        raise ValueError(f"`labels` must be 'inferred' or None; received labels={labels!r}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Image directory {path} does not exist.")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"{path} is not a directory.")

    class_names = sorted(
        d for d in os.listdir(path) if _visible(d) and os.path.isdir(os.path.join(path, d))
    )
    candidates, skipped = [], []
    if labels == "inferred" and class_names:
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if _visible(name) and os.path.isfile(full):
                skipped.append((full, "not inside a class sub-folder"))
        for index, name in enumerate(class_names):
            candidates += [(f, index) for f in _files_under(os.path.join(path, name))]
    else:
        class_names = []
        candidates = [(f, None) for f in _files_under(path)]

    files, file_labels, shapes = [], [], []
    for file, label in candidates:
        try:
            shape = _decode_native(file)
        except ValueError as error:
            skipped.append((file, str(error)))
            continue
        files.append(file)
        file_labels.append(label)
        shapes.append(shape)
    return ImageDirectoryScan(
        path=path,
        files=files,
        labels=file_labels if class_names else None,
        class_names=class_names,
        shapes=shapes,
        skipped=skipped,
    )


def _to_channels(image, channels):
    """Converts a decoded uint8 image with 1-4 channels to `channels` channels.

    `tf.io.decode_image` cannot do this itself for every format (BMP and GIF
    refuse ``channels=1``, JPEG refuses 4), so images are decoded natively and
    converted here: grayscale via `tf.image.rgb_to_grayscale`, alpha dropped
    or added as opaque.
    """
    def gray(x):
        return x[..., :1]

    def rgb_from_gray(x):
        return tf.tile(x[..., :1], [1, 1, 3])

    def to_gray(x):
        return tf.image.rgb_to_grayscale(x[..., :3])

    def opaque(x):
        return tf.fill(tf.concat([tf.shape(x)[:2], [1]], 0), tf.constant(255, tf.uint8))

    if channels == 1:
        branches = [
            lambda: image, lambda: gray(image), lambda: to_gray(image), lambda: to_gray(image),
        ]
    elif channels == 3:
        branches = [
            lambda: rgb_from_gray(image), lambda: rgb_from_gray(image),
            lambda: image[..., :3], lambda: image[..., :3],
        ]
    else:
        branches = [
            lambda: tf.concat([rgb_from_gray(image), opaque(image)], -1),
            lambda: tf.concat([rgb_from_gray(image), image[..., 1:2]], -1),
            lambda: tf.concat([image[..., :3], opaque(image)], -1),
            lambda: image[..., :4],
        ]
    converted = tf.switch_case(tf.shape(image)[-1] - 1, branches)
    converted.set_shape([None, None, channels])
    return converted


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


def _warn_skipped(scan):
    names = ", ".join(f"{f} ({why})" for f, why in scan.skipped[:_WARN_NAMES])
    more = len(scan.skipped) - _WARN_NAMES
    total = len(scan.files) + len(scan.skipped)
    warnings.warn(
        f"from_directory: skipped {len(scan.skipped)} of {total} files in {scan.path} "
        f"that are not readable images: {names}"
        + (f" and {more} more" if more > 0 else "")
        + ". `scan_image_directory(path).skipped` lists them all.",
        stacklevel=3,
    )


def from_directory(
    path, image_size=None, channels=3, labels="inferred", shuffle_files=False, seed=None
):
    """Image files under a directory as a `tf.data.Dataset`.

    Files are found and validated by `scan_image_directory`; the unreadable
    ones are skipped with a warning naming them.  Images are decoded from
    disk on iteration (in file order unless ``shuffle_files``).

    Args:
        path: the directory.  With class sub-folders (``path/cat/1.png``,
            ``path/dog/2.jpg``) and ``labels="inferred"``, each image gets the
            index of its sub-folder in the sorted sub-folder names.
        image_size: ``None`` to keep the images' size (all must then share
            one), an int, or ``(height, width)`` to resize to (bilinear,
            rounded back to uint8).
        channels: 1 (grayscale), 3 (RGB) or 4 (RGBA); images are converted.
        labels: ``"inferred"`` or ``None`` (images only).
        shuffle_files: shuffle the file order, anew on every iteration.
        seed: seed of that shuffle.

    Returns:
        An unbatched dataset of uint8 ``[H, W, channels]`` images, or of
        ``(image, label)`` pairs (int64 labels) when the images sit in class
        sub-folders and ``labels="inferred"``.

    Raises:
        ValueError: bad arguments, no readable image under ``path``, or images
            of different sizes with ``image_size=None``.

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
    return from_scan(scan_image_directory(path, labels=labels), image_size=image_size,
                     channels=channels, shuffle_files=shuffle_files, seed=seed)


def from_scan(scan, image_size=None, channels=3, shuffle_files=False, seed=None, limit=None):
    """The images of a `scan_image_directory` result as a `tf.data.Dataset`
    (what `from_directory` returns), without scanning the folder again.

    Images are decoded from disk on iteration, so the dataset streams: memory
    does not grow with the number of files.  ``limit`` keeps the first N
    files (before ``shuffle_files``); the other arguments are
    `from_directory`'s.

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
    size = _check_image_size(image_size)
    if not scan.files:
        raise ValueError(
            f"No readable image files in {scan.path} ({len(scan.skipped)} other files"
            + (f", e.g. {scan.skipped[0][0]}: {scan.skipped[0][1]}" if scan.skipped else "")
            + ")."
        )
    if scan.skipped:
        _warn_skipped(scan)
    count = len(scan.files) if limit is None else min(int(limit), len(scan.files))
    if size is None:
        sizes = {}
        for file, shape in zip(scan.files[:count], scan.shapes[:count]):
            sizes.setdefault(shape[:2], file)
        if len(sizes) > 1:
            examples = "; ".join(f"{h}x{w} ({f})" for (h, w), f in list(sizes.items())[:3])
            raise ValueError(
                f"Images in {scan.path} have {len(sizes)} different sizes, e.g. {examples}. "
                "Pass image_size=(height, width) to resize them all."
            )
        target_shape = [*next(iter(sizes)), channels]
    else:
        target_shape = [*size, channels]

    def load(file):
        image = tf.io.decode_image(tf.io.read_file(file), channels=0, expand_animations=False)
        image = _to_channels(image, channels)
        if size is not None:
            resized = tf.image.resize(image, size)
            image = tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)
        image.set_shape(target_shape)
        return image

    files = scan.files[:count]
    if scan.labels is None:
        ds = tf.data.Dataset.from_tensor_slices(files)
    else:
        ds = tf.data.Dataset.from_tensor_slices(
            (files, tf.constant(scan.labels[:count], tf.int64)))
    if shuffle_files:
        ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if scan.labels is None:
        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(lambda f, y: (load(f), y), num_parallel_calls=tf.data.AUTOTUNE)
