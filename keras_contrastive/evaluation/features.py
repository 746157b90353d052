"""Frozen-feature extraction: run an encoder over images (labelled or not) once.

Every evaluation protocol (kNN, linear probe) starts here, so this module owns
the input conventions of ``docs/ARCHITECTURE.md``: data is a
``tf.data.Dataset`` of ``(image, label)`` pairs (batched or unbatched, uint8 or
float) or a tuple of NumPy arrays ``(images, labels)``; images reach the
encoder as float32 in [0, 1] (uint8 is divided by 255).
"""
import warnings
import weakref

import numpy as np
import tensorflow as tf

from keras_contrastive._checks import is_positive_int
from keras_contrastive.data.arrays import set_autotune, to_unit_float

__all__ = ["extract_features"]

# One compiled inference function per encoder, so repeated evaluation (e.g. a
# KNNMonitor every epoch) traces the network once, not on every call.  The
# function holds only a weak reference to the encoder, so the cache never
# keeps an encoder alive.
_INFERENCE_FUNCTIONS = weakref.WeakKeyDictionary()


def inference_function(encoder):
    """``encoder``'s compiled inference: a ``tf.function`` of a batch of images
    (uint8, or float in [0, 1]) -> the encoder's outputs with
    ``training=False``.  One per encoder, cached, so repeated evaluation
    traces the network once.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.evaluation.features import inference_function
    >>> encoder = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    >>> embed = inference_function(encoder)
    >>> embed is inference_function(encoder), embed(np.full((1, 4, 4, 1), 255, np.uint8)).shape
    (True, TensorShape([1, 16]))
    """
    try:
        return _INFERENCE_FUNCTIONS[encoder]
    except (KeyError, TypeError):
        pass
    encoder_ref = weakref.ref(encoder)

    @tf.function(reduce_retracing=True, autograph=False)
    def embed(images):
        images = to_unit_float(images)
        return encoder_ref()(images, training=False)

    try:
        _INFERENCE_FUNCTIONS[encoder] = embed
    except TypeError:  # an encoder that cannot be weakly referenced
        pass
    return embed


def _encoder_input_shape(encoder):
    """The encoder's input shape (with batch axis) as a tuple, or None if unknown."""
    try:
        inputs = encoder.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs or len(inputs) != 1:
        return None
    return tuple(inputs[0].shape)


def _check_image_shape(image_shape, input_shape):
    """Raise a ValueError naming both shapes unless a batch fits the encoder."""
    image_shape = tuple(image_shape)
    if input_shape is None:
        if len(image_shape) != 4:
            raise ValueError(
                f"Images must be batches of shape [B, H, W, C]; got a batch of shape {image_shape}."
            )
        return
    mismatch = len(image_shape) != len(input_shape) or any(
        want is not None and have is not None and want != have
        for want, have in zip(input_shape[1:], image_shape[1:])
    )
    if mismatch:
        raise ValueError(
            f"Images of shape {image_shape[1:]} (batch shape {image_shape}) do not match the "
            f"encoder's input shape {input_shape[1:]} (batch shape {input_shape}): check the "
            "rank, image size and number of channels of `data`."
        )


def check_labels(labels, count, name="labels"):
    """``labels`` as an int64 vector of ``count`` non-negative class ids.

    Accepts shape ``[N]`` or ``[N, 1]``, integer, boolean or integral float
    dtypes; raises ``ValueError`` naming ``name`` otherwise.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != count:
        raise ValueError(
            f"`{name}` must be integer class ids of shape [{count}] (or [{count}, 1]) "
            f"matching the images/features; got shape {labels.shape}."
        )
    if labels.dtype.kind == "f":
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"`{name}` must be integer class ids; got non-integer float labels.")
    elif labels.dtype.kind not in "iub":
        raise ValueError(f"`{name}` must be integer class ids; got dtype {labels.dtype}.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"`{name}` must be non-negative class ids; got minimum {labels.min()}.")
    return labels.astype(np.int64)


def _batches(data, batch_size, input_shape):
    """Yield (image batch tensor, label batch ndarray) from any supported `data`."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, tf.TensorSpec):  # images without labels
            spec, unlabelled = (spec, None), True
        elif not (isinstance(spec, tuple) and len(spec) == 2):
            raise ValueError(
                "`data` must be a tf.data.Dataset of images or of (image, label) pairs; got "
                f"elements with spec {spec}."
            )
        else:
            unlabelled = False
        image_rank = spec[0].shape.rank
        expected_rank = len(input_shape) if input_shape is not None else 4
        if image_rank == expected_rank - 1:
            data = data.batch(batch_size)
        elif image_rank is not None and image_rank != expected_rank:
            raise ValueError(
                f"Dataset images of shape {tuple(spec[0].shape)} do not match the encoder's input "
                f"shape {input_shape[1:] if input_shape else '[H, W, C]'} (batch shape "
                f"{input_shape or '[B, H, W, C]'}): expected unbatched images of rank "
                f"{expected_rank - 1} or batches of rank {expected_rank}."
            )
        # one pass: without the autotuning model, dropping the iterator does not wait for it
        for element in set_autotune(data):
            yield (element, None) if unlabelled else (element[0], element[1].numpy())
        return
    if isinstance(data, np.ndarray):  # images without labels
        data = (data, None)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        images = np.asarray(images)
        if labels is None:
            for start in range(0, images.shape[0], batch_size):
                yield tf.convert_to_tensor(images[start:start + batch_size]), None
            return
        labels = np.asarray(labels)
        if images.shape[:1] != labels.shape[:1]:
            raise ValueError(
                f"`data` images and labels must have the same length; got {images.shape[0]} "
                f"images (shape {images.shape}) and labels of shape {labels.shape}."
            )
        for start in range(0, images.shape[0], batch_size):
            stop = start + batch_size
            yield tf.convert_to_tensor(images[start:stop]), labels[start:stop]
        return
    raise TypeError(
        "`data` must be a tf.data.Dataset of images or of (image, label) pairs, a NumPy "
        f"array of images or a tuple (images, labels) of NumPy arrays; got {type(data).__name__}."
    )


def labelled_arrays(data, batch_size=512):
    """``(images, labels)`` NumPy arrays of any labelled ``data`` form (a
    ``tf.data.Dataset`` of ``(image, label)`` pairs is read once, into memory).

    Example:

    >>> import numpy as np, tensorflow as tf
    >>> from keras_contrastive.evaluation.features import labelled_arrays
    >>> data = tf.data.Dataset.from_tensor_slices((np.zeros((5, 4, 4, 1), np.uint8), np.arange(5)))
    >>> [a.shape for a in labelled_arrays(data)]
    [(5, 4, 4, 1), (5,)]
    """
    pairs = [(np.asarray(images), labels) for images, labels in _batches(data, batch_size, None)]
    if not pairs:
        raise ValueError("`data` holds no images.")
    if pairs[0][1] is None:
        raise ValueError("`data` has no labels: give (image, label) pairs.")
    images = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs])
    return images, check_labels(labels, len(images))


def extract_features(encoder, data, batch_size=512):
    """Run a frozen encoder over images (labelled or not) and return NumPy features.

    The data is traversed exactly once, so features and labels stay aligned
    even for a dataset that reshuffles on every iteration.  The encoder is
    called with ``training=False`` (BatchNormalization uses its moving
    statistics).

    Args:
        encoder: a Keras model (or any callable taking ``training=``) mapping
            float32 images ``[B, H, W, C]`` in [0, 1] to features ``[B, D]``.
        data: a ``tf.data.Dataset`` of ``(image, label)`` pairs, batched or
            unbatched, with uint8 images (divided by 255) or float images in
            [0, 1]; or a tuple ``(images, labels)`` of NumPy arrays.  Labels
            are integer class ids of shape ``[N]`` (``[N, 1]`` is accepted).
            Unlabelled data: a ``tf.data.Dataset`` of images alone, a NumPy
            array of images, or ``(images, None)``.
        batch_size: images per encoder call when ``data`` is unbatched or
            NumPy.  Ignored for an already batched dataset.

    Returns:
        ``(features, labels)``: float32 ``[N, D]`` and int64 ``[N]`` arrays;
        ``labels`` is None for unlabelled data (always a pair, so
        ``features, labels = extract_features(...)`` reads both kinds).

    Raises:
        ValueError: the images do not match the encoder's input shape (both
            shapes are named), the data is empty, or the encoder does not
            return ``[B, D]`` features.

    Example:

    ```python
    import keras, numpy as np
    from keras_contrastive.evaluation import extract_features

    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    images = np.zeros((10, 28, 28, 1), np.uint8)
    features, labels = extract_features(encoder, (images, np.arange(10)))
    assert features.shape == (10, 784) and labels.dtype == np.int64
    features, labels = extract_features(encoder, images)  # no labels
    assert features.shape == (10, 784) and labels is None
    ```
    """
    if not is_positive_int(batch_size):
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    batch_size = int(batch_size)
    input_shape = _encoder_input_shape(encoder)
    embed = inference_function(encoder)

    feature_batches, label_batches = [], []
    checked_range = False
    for images, labels in _batches(data, batch_size, input_shape):
        _check_image_shape(images.shape, input_shape)
        if not checked_range and images.dtype.is_floating and images.shape[0]:
            checked_range = True
            peak = float(tf.reduce_max(images))
            if peak > 1.5:
                warnings.warn(
                    f"extract_features: float images exceed 1.0 (max {peak:.1f}); encoders "
                    "expect float32 in [0, 1]. "
                    "Pass uint8 images or divide by 255.",
                    stacklevel=2,
                )
        features = embed(images)
        if features.shape.rank != 2:
            raise ValueError(
                f"The encoder must return features of shape [B, D]; got shape {tuple(features.shape)} "
                f"for images of shape {tuple(images.shape)}. Add a pooling or Flatten layer."
            )
        feature_batches.append(tf.cast(features, tf.float32).numpy())
        if labels is not None:
            label_batches.append(check_labels(labels, images.shape[0]))

    if not feature_batches or sum(len(f) for f in feature_batches) == 0:
        raise ValueError("`data` is empty: no images to extract features from.")
    return (np.concatenate(feature_batches, axis=0),
            np.concatenate(label_batches, axis=0) if label_batches else None)
