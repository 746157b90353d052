"""EXIF orientation: the way image viewers show a JPEG, which `tf.io.decode_jpeg` ignores.

A phone stores a photo as the sensor saw it and records how to turn it in
the EXIF orientation tag (0x0112): 1 as stored, 2 mirrored, 3 turned 180
degrees, 4 flipped upside down, 5 transposed, 6 turned 90 degrees clockwise,
7 transversed, 8 turned 90 degrees counter-clockwise.  `exif_orientation`
reads the tag from a JPEG's bytes (pure Python: the APP1 ``Exif`` segment,
its TIFF header, IFD0) and `exif_orientation_tf` the same way in TensorFlow
ops only (for the exported ``serve_bytes`` signature: a SavedModel cannot
call Python); `apply_orientation` turns a decoded image accordingly, as
PIL's ``ImageOps.exif_transpose`` does.  The two readers follow one set of
rules (``tests/reliability/test_data_inputs.py`` fuzzes them against each
other), so the folder loader and the served model turn a photo alike.
"""
import struct

import tensorflow as tf

_ORIENTATION_TAG = 0x0112
_SOS, _EOI = 0xDA, 0xD9  # start of scan (image data follows), end of image
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])  # markers without a length
#: the marker walk gives up (orientation 1) after this many steps (a fill byte,
#: a marker without a length or a segment each): bounds the serving graph's loop
#: (a camera's or editor's JPEG has a few dozen segments before its image data)
MAX_MARKER_STEPS = 256
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
    value outside 1-8, no ``Exif`` segment within `MAX_MARKER_STEPS` markers)
    reads as 1 (as stored), never as an error.  `exif_orientation_tf` is the
    same reader in TensorFlow ops.

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
    for _ in range(MAX_MARKER_STEPS):
        if position + 4 > len(data):
            return 1
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


def _bytes_at(data, size, position, count):
    """int64 ``[count]``: ``count`` bytes of the string ``data`` (of length
    ``size``) from ``position``, zeros past its end; never out of range."""
    position = tf.clip_by_value(position, 0, size)
    piece = tf.strings.join([tf.strings.substr(data, position, count), b"\0" * count])
    raw = tf.io.decode_raw(tf.strings.substr(piece, 0, count), tf.uint8)
    return tf.cast(tf.reshape(raw, [count]), tf.int64)


def _number(low_first, parts):
    """The unsigned integer of bytes ``parts`` (int64 tensors, in stored order):
    little-endian where ``low_first``, else big-endian."""
    little = sum(part * 256 ** k for k, part in enumerate(parts))
    big = sum(part * 256 ** k for k, part in enumerate(reversed(parts)))
    return tf.where(low_first, little, big)


def _ifd0_orientation_tf(data, start, length):
    """`_ifd0_orientation` of the TIFF block ``data[start:start + length]``:
    every IFD0 entry that fits is read at once (at most 5,461 in a 64 KiB
    segment), no loop."""
    tiff = tf.strings.substr(data, start, length)
    head = _bytes_at(tiff, length, tf.constant(0, tf.int64), 8)
    low_first = tf.logical_and(tf.equal(head[0], 0x49), tf.equal(head[1], 0x49))  # "II"
    big_first = tf.logical_and(tf.equal(head[0], 0x4D), tf.equal(head[1], 0x4D))  # "MM"
    offset = _number(low_first, [head[4], head[5], head[6], head[7]])
    usable = tf.logical_and(tf.logical_or(low_first, big_first),
                            tf.logical_and(length >= 8, offset + 2 <= length))
    offset = tf.where(usable, offset, tf.zeros_like(offset))
    count_bytes = _bytes_at(tiff, length, offset, 2)
    count = _number(low_first, [count_bytes[0], count_bytes[1]])
    entries = tf.where(usable, tf.minimum(count, (length - offset - 2) // 12),
                       tf.zeros_like(count))
    table = tf.io.decode_raw(
        tf.strings.substr(tiff, tf.minimum(offset + 2, length), 12 * entries), tf.uint8)
    table = tf.reshape(tf.cast(table, tf.int64), [-1, 12])
    tags = _number(low_first, [table[:, 0], table[:, 1]])
    kinds = _number(low_first, [table[:, 2], table[:, 3]])
    values = _number(low_first, [table[:, 8], table[:, 9]])
    found = tf.logical_and(tf.equal(tags, _ORIENTATION_TAG), tf.equal(kinds, 3))  # SHORT
    value = tf.concat([tf.boolean_mask(values, found), tf.ones([1], tf.int64)], 0)[0]  # first
    return tf.cast(tf.where(tf.logical_and(value >= 1, value <= 8), value, tf.ones_like(value)),
                   tf.int32)


def exif_orientation_tf(data):
    """`exif_orientation` in TensorFlow ops only: a scalar string tensor of
    encoded image bytes -> int32 orientation 1-8 (1 for anything that is not a
    JPEG with a well-formed tag; never an error).

    The exported ``serve_bytes`` signature uses it (a SavedModel cannot call
    Python): the marker walk is a ``tf.while_loop`` of at most
    `MAX_MARKER_STEPS` steps on 4-byte slices, the IFD0 scan one vectorised
    read of the entries.

    Example:

    >>> import struct
    >>> from keras_contrastive.data.orientation import exif_orientation_tf
    >>> entry = struct.pack("<HHIHH", 0x0112, 3, 1, 8, 0)  # orientation, SHORT, 8
    >>> tiff = b"II\\x2a\\x00" + struct.pack("<IH", 8, 1) + entry
    >>> app1 = b"\\xff\\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\\x00\\x00" + tiff
    >>> jpeg = b"\\xff\\xd8" + app1 + b"\\xff\\xd9"
    >>> int(exif_orientation_tf(jpeg)), int(exif_orientation_tf(b"GIF89a"))
    (8, 1)
    """
    data = tf.reshape(tf.convert_to_tensor(data, tf.string), [])
    size = tf.cast(tf.strings.length(data), tf.int64)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 2), b"\xff\xd8")
    standalone = tf.constant(sorted(_STANDALONE), tf.int64)
    one = tf.constant(1, tf.int64)

    def step(steps, position, done, tiff_start, tiff_length):
        b = _bytes_at(data, size, position, 4)
        marker, length = b[1], b[2] * 256 + b[3]
        fill = tf.equal(marker, 0xFF)
        alone = tf.reduce_any(tf.equal(standalone, marker))
        stop = tf.logical_or(  # orientation 1
            tf.logical_or(position + 4 > size, tf.not_equal(b[0], 0xFF)),
            tf.logical_and(tf.logical_not(tf.logical_or(fill, alone)),
                           tf.logical_or(tf.equal(marker, _SOS), tf.equal(marker, _EOI))))
        segment_start = tf.minimum(position + 4, size)
        segment_length = tf.maximum(tf.minimum(position + 2 + length, size) - segment_start, 0)
        exif = tf.logical_and(
            tf.logical_and(tf.equal(marker, 0xE1), segment_length >= 6),
            tf.equal(tf.strings.substr(data, segment_start, 6), b"Exif\0\0"))
        exif = tf.logical_and(exif, tf.logical_not(stop))
        advance = tf.where(fill, one, tf.where(alone, one + 1, 2 + length))
        return (steps + 1, position + advance, tf.logical_or(stop, exif),
                tf.where(exif, segment_start + 6, tiff_start),
                tf.where(exif, segment_length - 6, tiff_length))

    zero = tf.constant(0, tf.int64)
    _, _, _, tiff_start, tiff_length = tf.while_loop(
        lambda steps, position, done, *_: tf.logical_and(
            steps < MAX_MARKER_STEPS, tf.logical_not(done)),
        step, (zero, tf.constant(2, tf.int64), tf.logical_not(is_jpeg), zero, zero),
        maximum_iterations=MAX_MARKER_STEPS)
    return _ifd0_orientation_tf(data, tiff_start, tiff_length)


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
