"""A TensorFlow Datasets data set as a `tf.data.Dataset` of uint8 images (+ labels)."""
import importlib.resources
import importlib.resources.abc  # noqa: F401 - makes `importlib.resources.abc` an attribute
import importlib.util
import sys

import tensorflow as tf
import tensorflow_datasets as tfds

from keras_contrastive.data.preprocess import resize_uint8


def _provide_importlib_resources():
    """Lets TFDS find `importlib_resources` on Python >= 3.9 without the backport.

    TFDS 4.9.x uses ``importlib_resources.abc.Traversable`` whenever it looks
    up a builder's code path (every ``download_and_prepare``, built-in data
    sets included) but declares the backport only for Python < 3.9, so it
    fails with ``ModuleNotFoundError`` (tensorflow/datasets#11212).  The
    standard library's ``importlib.resources`` has the same API and stands in
    for it; an installed backport is left alone.
    """
    if importlib.util.find_spec("importlib_resources") is None:
        sys.modules.setdefault("importlib_resources", importlib.resources)


_provide_importlib_resources()


def from_tfds(
    name,
    split="train",
    data_dir=None,
    image_key="image",
    label_key="label",
    with_labels=True,
    download=False,
    image_size=None,
    shuffle_files=False,
    seed=None,
):
    """Loads the images (and labels) of a TFDS data set.

    This is ``tfds.load(name, split=split, data_dir=data_dir, download=download)``
    done in its steps (``tfds.builder``, ``download_and_prepare``,
    ``as_dataset``) so that each failure can say what went wrong: an unknown
    name, a data set not prepared in ``data_dir``, a missing or non-image
    feature.

    Args:
        name: the TFDS name, e.g. ``"fashion_mnist"`` or ``"cifar10:3.0.2"``.
            Custom builders must be defined (imported) first.
        split: a TFDS split, slices included (``"train[:10%]"``).
        data_dir: where TFDS keeps its prepared data (TFDS' default if None).
        image_key: the feature holding the uint8 image.
        label_key: the feature holding the integer label.
        with_labels: yield ``(image, label)`` pairs if True, else images only.
        download: download and prepare the data set if it is not yet in
            ``data_dir``.  Off by default: nothing touches the network.
        image_size: ``None`` to keep the images' size, an int, or
            ``(height, width)`` to resize them to (bilinear with antialiasing,
            rounded back to uint8: ``data.preprocess``), as `from_directory` does: data sets of images of several
            sizes (ImageNet) need it to be batched.
        shuffle_files: read the data set's files in a random order (anew on
            every iteration; ``seed`` seeds it).  The examples stream from
            disk either way.
        seed: seed of ``shuffle_files``.

    Returns:
        An unbatched dataset of uint8 ``[H, W, C]`` images, or of
        ``(image, label)`` pairs with int64 labels.

    Raises:
        ValueError: unknown data set or split, missing or unsuitable features.
        FileNotFoundError: the data set is not prepared in ``data_dir`` and
            ``download`` is False.

    Example:

    >>> ds = from_tfds("fashion_mnist", split="test", download=True)  # doctest: +SKIP
    >>> image, label = next(iter(ds))  # doctest: +SKIP
    >>> image.shape, label.dtype  # doctest: +SKIP
    (TensorShape([28, 28, 1]), tf.int64)
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"from_tfds: TFDS has no data set named {name!r} "
            "(`tfds.list_builders()` lists the known names; a custom builder "
            "must be defined or imported before it can be loaded)."
        ) from error

    features = builder.info.features
    available = sorted(features.keys()) if hasattr(features, "keys") else []
    wanted = {"image_key": image_key}
    if with_labels:
        wanted["label_key"] = label_key
    for argument, key in wanted.items():
        if key not in available:
            hint = " or with_labels=False" if argument == "label_key" else ""
            raise ValueError(
                f"from_tfds: data set {name!r} has no feature {key!r}; its features are "
                f"{available}. Pass the right {argument}=...{hint}."
            )
    image_feature = features[image_key]
    image_dtype = tf.as_dtype(image_feature.dtype)
    if image_dtype != tf.uint8 or len(image_feature.shape) != 3:
        raise ValueError(
            f"from_tfds: feature {image_key!r} of data set {name!r} is not a uint8 "
            f"[H, W, C] image: dtype {image_dtype.name}, shape {image_feature.shape}."
        )
    if with_labels and not tf.as_dtype(features[label_key].dtype).is_integer:
        raise ValueError(
            f"from_tfds: feature {label_key!r} of data set {name!r} is not an integer "
            f"label: dtype {tf.as_dtype(features[label_key].dtype).name}."
        )

    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise FileNotFoundError(
            f"from_tfds: data set {name!r} is not prepared in {builder.data_dir}. "
            "Pass download=True to download and prepare it, or the data_dir that holds it; "
            f"from a shell: `tfds build {name}`, or set TFDS_DATA_DIR to the folder that "
            "holds it."
        )
    size = _image_size(image_size)
    read_config = (tfds.ReadConfig(shuffle_seed=seed) if shuffle_files and seed is not None
                   else None)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=bool(shuffle_files),
                                read_config=read_config)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"from_tfds: cannot read split {split!r} of data set {name!r} "
            f"(its splits: {sorted(builder.info.splits.keys())}): {error}"
        ) from error

    def image(example):
        if size is None:
            return example[image_key]
        image = resize_uint8(example[image_key], size)  # as serving does (data.preprocess)
        image.set_shape([*size, image_feature.shape[-1]])
        return image

    if with_labels:
        return ds.map(
            lambda example: (image(example), tf.cast(example[label_key], tf.int64)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.map(image, num_parallel_calls=tf.data.AUTOTUNE)


def _image_size(image_size):
    """``(height, width)`` of an int or a pair, ``None`` for ``None``; ``ValueError`` otherwise."""
    if image_size is None:
        return None
    pair = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(pair) != 2 or not all(isinstance(n, int) and n > 0 for n in pair):
        raise ValueError(f"from_tfds: `image_size` must be None, a positive int or "
                         f"(height, width); received image_size={image_size!r}.")
    return pair
