"""The one image preprocessing of training, evaluation and serving.

The folder and TFDS loaders (``data.directory``, ``data.tfds``) and the
exported ``serve_uint8`` / ``serve_bytes`` signatures (``export``) all turn a
decoded uint8 image into the model's input with :func:`prepare_images`:
channels converted, then resized bilinearly **with antialiasing** to exactly
``(height, width)`` (the aspect ratio is not kept) and rounded back to uint8,
then, given a JPEG's EXIF orientation, turned as it says.
One function, so an image file gets the same embedding from ``pretrain``'s
evaluation and from the served SavedModel (``tests/test_export.py`` checks it
to 1e-5 for a file that needs resizing).

Example:

>>> import numpy as np
>>> from keras_contrastive.data.preprocess import prepare_images
>>> image = np.full((40, 30, 4), 200, np.uint8)  # RGBA
>>> out = prepare_images(image, channels=3, size=(16, 16))
>>> out.shape, out.dtype.name, int(out[0, 0, 0])
(TensorShape([16, 16, 3]), 'uint8', 200)
"""
import tensorflow as tf

from keras_contrastive._checks import image_size_pair
from keras_contrastive.data.orientation import apply_orientation

#: how every loader and the serving signatures resize (recorded in metadata.json)
RESIZE_METHOD = "bilinear"
RESIZE_ANTIALIAS = True
#: ITU-R BT.601 luma: a colour picture's grey for a 1-channel model (weights summing to 1)
LUMA = (0.299, 0.587, 0.114)


def to_channels(image, channels):
    """uint8 images ``[..., h, w, c]`` with 1-4 channels (grey, grey + alpha,
    RGB, RGBA; ``c`` may be known only when the graph runs) as ``channels``
    channels: grey repeated for colour, colour to grey by BT.601 luma
    (:data:`LUMA`, ``0.299 R + 0.587 G + 0.114 B``, rounded), alpha dropped, or
    added opaque for ``channels=4``.

    >>> import numpy as np
    >>> from keras_contrastive.data.preprocess import to_channels
    >>> to_channels(np.zeros((2, 5, 5, 1), np.uint8), 3).shape
    TensorShape([2, 5, 5, 3])
    """
    image = tf.convert_to_tensor(image)

    def rgb_from_gray(x):
        return tf.concat([x[..., :1]] * 3, axis=-1)

    def to_gray(x):  # BT.601 luma, rounded: a grey picture stored as RGB keeps its values
        luma = tf.reduce_sum(tf.cast(x[..., :3], tf.float32) * tf.constant(LUMA), -1,
                             keepdims=True)
        return tf.cast(tf.round(tf.clip_by_value(luma, 0.0, 255.0)), image.dtype)

    def opaque(x):
        return tf.fill(tf.concat([tf.shape(x)[:-1], [1]], 0), tf.constant(255, image.dtype))

    if channels == 1:
        branches = [lambda: image, lambda: image[..., :1], lambda: to_gray(image),
                    lambda: to_gray(image)]
    elif channels == 3:
        branches = [lambda: rgb_from_gray(image), lambda: rgb_from_gray(image),
                    lambda: image[..., :3], lambda: image[..., :3]]
    else:
        branches = [
            lambda: tf.concat([rgb_from_gray(image), opaque(image)], -1),
            lambda: tf.concat([rgb_from_gray(image), image[..., 1:2]], -1),
            lambda: tf.concat([image[..., :3], opaque(image)], -1),
            lambda: image[..., :4],
        ]
    converted = tf.switch_case(tf.shape(image)[-1] - 1, branches)
    converted.set_shape(image.shape[:-1].concatenate([channels]))
    return converted


def resize_uint8(image, size):
    """uint8 images ``[..., h, w, c]`` resized to ``size`` ``(height, width)``:
    bilinear with antialiasing, rounded back to uint8 (an image already at
    ``size`` is unchanged).

    >>> import numpy as np
    >>> from keras_contrastive.data.preprocess import resize_uint8
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    >>> bool((resize_uint8(image, (4, 4)).numpy() == image).all())
    True
    """
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method=RESIZE_METHOD,
                              antialias=RESIZE_ANTIALIAS)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def prepare_images(image, channels, size=None, orientation=None):
    """A decoded uint8 image (``[h, w, c]``) or batch (``[B, h, w, c]``) as the
    model's input: :func:`to_channels`, then :func:`resize_uint8` to ``size``
    (``None``: kept).  What the loaders and the serving signatures share.

    ``orientation`` (an EXIF orientation 1-8, a scalar, for one image): the
    image is turned as it says (``data.orientation.apply_orientation``) after
    it is resized, to ``size`` with height and width swapped where the turn
    swaps them, so that the result is ``size`` as shown; turning the small
    image, not the decoded photo, keeps the turn cheap.  The folder loader and
    ``serve_bytes`` both turn this way.

    >>> import numpy as np
    >>> from keras_contrastive.data.preprocess import prepare_images
    >>> prepare_images(np.zeros((3, 9, 7, 3), np.uint8), 1, (4, 4)).shape
    TensorShape([3, 4, 4, 1])
    >>> prepare_images(np.zeros((9, 7, 3), np.uint8), 3, (4, 6), orientation=6).shape
    TensorShape([4, 6, 3])
    """
    image = to_channels(image, channels)
    size = image_size_pair(size)
    if orientation is None:
        return image if size is None else resize_uint8(image, size)
    orientation = tf.reshape(tf.cast(orientation, tf.int32), [])
    if size is not None:
        quarter_turn = tf.logical_and(orientation >= 5, orientation <= 8)
        image = resize_uint8(image, tf.where(quarter_turn, size[::-1], size))
    turned = apply_orientation(image, orientation)
    if size is not None:
        turned.set_shape([*size, channels])
    return turned
