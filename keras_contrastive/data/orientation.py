"""EXIF orientation: the way image viewers show a JPEG, which `tf.io.decode_jpeg` ignores.

A phone stores a photo as the sensor saw it and records how to turn it in
the EXIF orientation tag (0x0112): 1 as stored, 2 mirrored, 3 turned 180
degrees, 4 flipped upside down, 5 transposed, 6 turned 90 degrees clockwise,
7 transversed, 8 turned 90 degrees counter-clockwise.  `exif_orientation`
reads the tag from a JPEG's bytes (pure Python: the APP1 ``Exif`` segment,
its TIFF header, IFD0); `apply_orientation` turns a decoded image
accordingly, as PIL's ``ImageOps.exif_transpose`` does.
"""
import struct

import tensorflow as tf

_ORIENTATION_TAG = 0x0112
_SOS, _EOI = 0xDA, 0xD9  # start of scan (image data follows), end of image
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])  # markers without a length
# orientation 1-8 (index 0 unused) = transpose if >= 5, then these flips
_FLIP_ROWS = (False, False, False, True, True, False, False, True, True)
_FLIP_COLUMNS = (False, False, True, True, False, False, True, True, False)


def _ifd0_orientation(tiff):
    """The orientation tag's value in a TIFF block (bytes after ``Exif\\0\\0``), or 1."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", tiff[4:8])[0]
    if offset + 2 > len(tiff):
        return 1
    count = struct.unpack(order + "H", tiff[offset:offset + 2])[0]
    for entry in range(offset + 2, min(offset + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind, _ = struct.unpack(order + "HHI", tiff[entry:entry + 8])
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT, stored in the value field
            value = struct.unpack(order + "H", tiff[entry + 8:entry + 10])[0]
            return value if 1 <= value <= 8 else 1
    return 1


def exif_orientation(data):
    """The EXIF orientation (1-8) of a JPEG's bytes; 1 when there is none.

    Anything else (not a JPEG, no EXIF, a truncated or malformed segment, a
    value outside 1-8) reads as 1 (as stored), never as an error.

    Example:

    >>> import struct
    >>> from keras_contrastive.data.orientation import exif_orientation
    >>> tiff = b"MM\\x00\\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    >>> app1 = b"\\xff\\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\\x00\\x00" + tiff
    >>> exif_orientation(b"\\xff\\xd8" + app1 + b"\\xff\\xd9"), exif_orientation(b"\\x89PNG")
    (6, 1)
    """
    data = bytes(data)
    if data[:2] != b"\xff\xd8":
        return 1
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return 1
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (_SOS, _EOI):
            return 1
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        segment = data[position + 4:position + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            return _ifd0_orientation(segment[6:])
        position += 2 + length
    return 1


def apply_orientation(image, orientation):
    """``image`` (``[H, W, C]``) turned as EXIF ``orientation`` (1-8) says, so
    it looks as an image viewer shows it; orientations 5-8 swap H and W.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data.orientation import apply_orientation
    >>> image = np.arange(6, dtype="uint8").reshape(2, 3, 1)
    >>> apply_orientation(image, 6).numpy()[..., 0]  # turned 90 degrees clockwise
    array([[3, 0],
           [4, 1],
           [5, 2]], dtype=uint8)
    """
    image = tf.convert_to_tensor(image)
    orientation = tf.clip_by_value(tf.reshape(tf.cast(orientation, tf.int32), []), 1, 8)
    # as a transpose (5-8) then flips: plain ops, no control flow (cheap per image)
    perm = tf.where(orientation >= 5, tf.constant([1, 0, 2]), tf.constant([0, 1, 2]))
    flip_rows = tf.gather(_FLIP_ROWS, orientation)
    flip_columns = tf.gather(_FLIP_COLUMNS, orientation)
    axes = tf.boolean_mask(tf.constant([0, 1]), tf.stack([flip_rows, flip_columns]))
    turned = tf.reverse(tf.transpose(image, perm), axes)
    turned.set_shape([None, None, image.shape[-1]])
    return turned
