"""In-memory image arrays as a `tf.data.Dataset` of uint8 images (+ labels)."""
import numpy as np
import tensorflow as tf


def _as_uint8_images(images):
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            "from_arrays: `images` must be [N, H, W] or [N, H, W, C]; "
            f"received shape {images.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError(f"from_arrays: `images` is empty (shape {images.shape}).")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        low, high = np.min(images), np.max(images)
        if not (np.isfinite(low) and np.isfinite(high) and low >= 0.0 and high <= 1.0):
            raise ValueError(
                f"from_arrays: float `images` (dtype {images.dtype}) must lie in [0, 1]; "
                f"received values in [{low}, {high}]. Scale them (e.g. divide 0-255 "
                "values by 255) or pass uint8."
            )
        return np.round(images.astype(np.float64) * 255.0).astype(np.uint8)
    raise ValueError(
        f"from_arrays: `images` must be uint8, or float in [0, 1]; received dtype "
        f"{images.dtype}. For integers in 0-255 use images.astype('uint8')."
    )


def from_arrays(images, labels=None):
    """Wraps in-memory images (and labels) as a `tf.data.Dataset`.

    Args:
        images: array-like, uint8 ``[N, H, W]`` (a channel axis is added) or
            ``[N, H, W, C]``; float arrays with values in [0, 1] are converted
            to uint8 as ``round(x * 255)``.  Other dtypes, or floats outside
            [0, 1], raise.
        labels: optional integer array-like of length ``N``.

    Returns:
        An unbatched dataset of uint8 ``[H, W, C]`` images, or of
        ``(image, label)`` pairs with int64 labels when ``labels`` is given.

    Raises:
        ValueError: empty input, bad rank or dtype, floats outside [0, 1],
            non-integer labels, or ``len(labels) != N``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data import from_arrays
    >>> ds = from_arrays(np.zeros((4, 8, 8), "uint8"), labels=[0, 1, 2, 3])
    >>> image, label = next(iter(ds))
    >>> image.shape, label.dtype
    (TensorShape([8, 8, 1]), tf.int64)
    """
    images = _as_uint8_images(images)
    if labels is None:
        return tf.data.Dataset.from_tensor_slices(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"from_arrays: `labels` must be 1-D with one label per image; received "
            f"{len(images)} images and labels of shape {labels.shape} "
            f"({labels.size} labels)."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"from_arrays: `labels` must be integers; received dtype {labels.dtype}."
        )
    return tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))


def to_unit_float(images):
    """Images as float32 in [0, 1]: integer images are divided by their dtype's max
    (uint8 by 255); floating images are only cast to float32.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data.arrays import to_unit_float
    >>> float(to_unit_float(np.array([255], np.uint8))[0])
    1.0
    """
    images = tf.convert_to_tensor(images)
    if images.dtype.is_floating:
        return tf.cast(images, tf.float32)
    if images.dtype.is_integer:
        return tf.cast(images, tf.float32) / float(images.dtype.max)
    raise ValueError(
        f"Images must be an integer (e.g. uint8) or floating-point tensor, got dtype {images.dtype.name}."
    )


def set_autotune(dataset, enabled=False):
    """`dataset` with tf.data's autotuning model turned off (or on) for its whole pipeline.

    With the model on (TensorFlow 2.21), destroying an iterator waits for the
    model's next optimisation round, and the period between rounds doubles
    while the iterator lives; `model.fit` makes one iterator per epoch, so an
    epoch could wait about as long again as it ran (BENCHMARKS.md, "Epoch
    overhead").  Off, `num_parallel_calls=tf.data.AUTOTUNE` runs one call
    per core and `prefetch(tf.data.AUTOTUNE)` keeps its own buffer tuner.
    The library's training pipelines (`views.make_views`, fine-tuning) use
    it; an option set later with `dataset.with_options` wins.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.data import set_autotune
    >>> set_autotune(tf.data.Dataset.range(4)).options().autotune.enabled
    False
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"set_autotune: `dataset` must be a tf.data.Dataset, got "
                         f"{type(dataset).__name__}.")
    options = tf.data.Options()
    options.autotune.enabled = bool(enabled)
    return dataset.with_options(options)
