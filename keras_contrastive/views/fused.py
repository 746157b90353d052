"""Fused decode-and-crop: the random resized crops of an encoded image, decoding
only each crop's window of a JPEG (as the official SimCLR input does).

`decode_crops` draws ``num_views`` boxes from a `RandomResizedCrop`'s own
sampler (`RandomResizedCrop.sample_boxes`: same scale, ratio and fallback, same
seed stream) on the image's shape as shown, then

* a JPEG stored upright (EXIF orientation 1) is decoded only in the window
  that holds all the boxes (their union), once, with
  `tf.image.decode_and_crop_jpeg` (its shape is read from the header with
  `tf.image.extract_jpeg_shape`); decoding each box alone, as SimCLR does,
  entropy-decodes the rows above each box again: slower for two views;
* any other file (PNG, BMP, GIF, or a JPEG whose EXIF orientation turns it) is
  decoded whole, turned as its orientation says, and cropped: the fallback.
  A turned JPEG's window is not mapped through the turn (it would need the
  turn's inverse on the box and the turn on the small crop); photos straight
  from a camera pay the full decode.

The boxes are then cut from the window and resized to the crop layer's size in
one call of the layer's own `crop_and_resize_boxes`, and rounded to uint8.  The pixels differ from
decode-then-crop of the same box only by JPEG's partial decode (the chroma
upsampling at the window's edges); ``tests/views/test_fused.py`` bounds the
difference.
"""
import keras
import tensorflow as tf

from keras_contrastive.data.orientation import apply_orientation
from keras_contrastive.data.preprocess import to_channels
from keras_contrastive.views.random_resized_crop import (RandomResizedCrop,
                                                         crop_and_resize_boxes)

_JPEG_MAGIC = b"\xff\xd8\xff"


def split_crop(augment):
    """``(crop, rest)`` of an augmentation whose first layer is a
    `RandomResizedCrop` (e.g. ``simclr_augment(...)``): the crop layer, and a
    callable applying the layers after it (flip, colour, blur...), the same
    layer objects.  A ValueError for anything else.

    >>> from keras_contrastive.views import simclr_augment
    >>> from keras_contrastive.views.fused import split_crop
    >>> crop, rest = split_crop(simclr_augment(32, seed=0))
    >>> crop.name, [layer.name for layer in rest.layers][:1]
    ('random_resized_crop', ['random_flip'])
    """
    layers = getattr(augment, "layers", None)
    if not (isinstance(augment, keras.Sequential) and layers
            and isinstance(layers[0], RandomResizedCrop)):
        raise ValueError(
            "fused decode-and-crop needs an augmentation that starts with a "
            "RandomResizedCrop, as a keras.Sequential (e.g. simclr_augment(size)); "
            f"received {augment!r}.")
    rest = keras.Sequential(layers[1:], name=f"{augment.name}_after_crop")
    for layer in [rest, *layers[1:]]:
        layer.dtype_policy = augment.dtype_policy
    return layers[0], rest


def is_jpeg(contents):
    """Whether encoded bytes (a scalar string tensor) start with JPEG's marker.

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.fused import is_jpeg
    >>> bool(is_jpeg(tf.io.encode_jpeg(tf.zeros([4, 4, 3], tf.uint8)))), bool(is_jpeg(b"PNG"))
    (True, False)
    """
    return tf.equal(tf.strings.substr(contents, 0, len(_JPEG_MAGIC)), _JPEG_MAGIC)


def shown_shape(contents, orientation):
    """``[height, width]`` (int32) of an encoded image as shown: a JPEG's from its
    header, another format's by decoding it; swapped when the EXIF orientation
    turns it a quarter.

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.fused import shown_shape
    >>> shown_shape(tf.io.encode_jpeg(tf.zeros([4, 6, 3], tf.uint8)), 6).numpy()
    array([6, 4], dtype=int32)
    """
    stored = tf.cond(
        is_jpeg(contents),
        lambda: tf.image.extract_jpeg_shape(contents)[:2],
        lambda: tf.shape(tf.io.decode_image(contents, channels=0,
                                            expand_animations=False))[:2])
    quarter = tf.cast(orientation, tf.int32) >= 5
    return tf.where(quarter, stored[::-1], stored)


def _resized(window, boxes, crop):
    """uint8 crops ``[V, h, w, C]`` of boxes of one uint8 image, resized like ``crop``."""
    resized = crop_and_resize_boxes(tf.cast(window, tf.float32)[None], boxes, crop.height,
                                    crop.width, crop.interpolation,
                                    box_indices=tf.zeros([tf.shape(boxes)[0]], tf.int32))
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def crop_decoded(image, boxes, crop):
    """The uint8 crops ``[V, h, w, C]`` of a decoded image ``[H, W, C]`` at pixel
    ``boxes`` ``[V, 4]`` (``y0, x0, h, w``), resized to ``crop``'s size: the
    decode-then-crop reference of `decode_crops`.

    >>> import numpy as np
    >>> from keras_contrastive.views import RandomResizedCrop
    >>> from keras_contrastive.views.fused import crop_decoded
    >>> image = np.full((10, 10, 3), 7, np.uint8)
    >>> crop_decoded(image, [[0, 0, 5, 5], [2, 2, 8, 8]], RandomResizedCrop(4, 4)).shape
    TensorShape([2, 4, 4, 3])
    """
    return _resized(image, tf.convert_to_tensor(boxes, tf.int32), crop)


def _union(boxes):
    """The smallest box ``(y0, x0, h, w)`` holding all of ``boxes``."""
    low = tf.reduce_min(boxes[:, :2], axis=0)
    high = tf.reduce_max(boxes[:, :2] + boxes[:, 2:], axis=0)
    return tf.concat([low, high - low], 0)


def decode_crops(contents, orientation, crop, num_views=2, channels=3, return_boxes=False):
    """``num_views`` random resized crops of one encoded image, uint8
    ``[num_views, crop.height, crop.width, channels]``: fused decode-and-crop
    for an upright JPEG, decode-then-crop for anything else (module docstring).

    Args:
        contents: the file's bytes (a scalar string tensor).
        orientation: its EXIF orientation (1-8; 1 for non-JPEGs).
        crop: the `RandomResizedCrop` whose sampler, size and interpolation
            are used (its seed generator advances).
        num_views: crops of the image.
        channels: 1, 3 or 4 (converted as `data.preprocess.to_channels`).
        return_boxes: also return the ``[num_views, 4]`` int32 boxes
            (``y0, x0, h, w`` in the image as shown).

    >>> import tensorflow as tf
    >>> from keras_contrastive.views import RandomResizedCrop
    >>> from keras_contrastive.views.fused import decode_crops
    >>> jpeg = tf.io.encode_jpeg(tf.fill([40, 30, 3], tf.constant(90, tf.uint8)))
    >>> crops = decode_crops(jpeg, 1, RandomResizedCrop(16, 16, seed=0))
    >>> crops.shape, crops.dtype.name
    (TensorShape([2, 16, 16, 3]), 'uint8')
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    orientation = tf.cast(orientation, tf.int32)
    shape = shown_shape(contents, orientation)
    boxes = crop.sample_boxes(num_views, shape[0], shape[1])
    union = _union(boxes)

    def window_of_jpeg():  # only the window holding every box is decoded
        window = tf.image.decode_and_crop_jpeg(contents, union, channels=0)
        return to_channels(window, channels), union[:2]

    def whole_image():
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
        return apply_orientation(to_channels(image, channels), orientation), tf.zeros([2],
                                                                                     tf.int32)

    fused = tf.logical_and(is_jpeg(contents), tf.equal(orientation, 1))
    window, origin = tf.cond(fused, window_of_jpeg, whole_image)
    crops = _resized(window, boxes - tf.concat([origin, [0, 0]], 0), crop)
    crops.set_shape([num_views, crop.height, crop.width, channels])
    return (crops, boxes) if return_boxes else crops
