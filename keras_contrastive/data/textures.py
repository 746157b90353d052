"""Scenes with planted content: images whose segmentation or object is known.

Dense evaluation protocols need images with a known answer.
``textured_scenes`` plants a few regions per image (a Voronoi partition of
random seed points) and fills each with one of a small set of textures
(stripes of different orientations, a checkerboard, flat grey), plus pixel
noise, so the answer of a segmentation (``evaluation.segment_retrieval``) is
known exactly.  ``glyph_scenes`` draws one small glyph (the class) and an
equally bright distractor bar on noise, with the glyph's box, so where a
class activation map should peak (``evaluation.pointing_game``) is known.
"""
import numpy as np

__all__ = ["GLYPH_NAMES", "TEXTURE_NAMES", "glyph_scenes", "textured_scenes"]

GLYPH_NAMES = ("square", "plus", "X")

TEXTURE_NAMES = ("horizontal stripes", "vertical stripes", "checkerboard", "flat",
                 "diagonal stripes", "fine dots")


def _texture(index, height, width, period):
    rows, cols = np.mgrid[:height, :width]
    half = period // 2
    if index == 0:
        return ((rows // half) % 2).astype(np.float32)
    if index == 1:
        return ((cols // half) % 2).astype(np.float32)
    if index == 2:
        return (((rows // half) + (cols // half)) % 2).astype(np.float32)
    if index == 3:
        return np.full((height, width), 0.5, np.float32)
    if index == 4:
        return (((rows + cols) // half) % 2).astype(np.float32)
    return ((rows % half == 0) & (cols % half == 0)).astype(np.float32)


def textured_scenes(n, size=(32, 32), num_textures=4, regions=(2, 5), period=4, noise=0.1,
                    seed=0):
    """``n`` grayscale images of textured regions and their masks.

    Each image is a Voronoi partition of ``regions`` (a range: 2-5 by
    default) random points; each region takes one of ``num_textures``
    textures (``TEXTURE_NAMES``; several regions may share one) drawn at
    random, shifted by a random phase; Gaussian noise of std ``noise`` is
    added.  The mask holds each pixel's texture index, so it is the ground
    truth of a texture segmentation.

    Args:
        n: number of images.
        size: ``(height, width)``.
        num_textures: 2 to 6 texture classes.
        regions: ``(min, max)`` regions per image.
        period: stripe/checker period in pixels (even, >= 2).
        noise: std of the added Gaussian noise (images are clipped to [0, 1]).
        seed: the same seed gives the same scenes.

    Returns:
        ``(images, masks)``: uint8 ``[n, H, W, 1]`` and uint8 ``[n, H, W]``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data import textured_scenes
    >>> images, masks = textured_scenes(8, size=(16, 16), seed=0)
    >>> images.shape, masks.shape, sorted(np.unique(masks).tolist())
    ((8, 16, 16, 1), (8, 16, 16), [0, 1, 2, 3])
    """
    height, width = size
    if not 2 <= num_textures <= len(TEXTURE_NAMES):
        raise ValueError(f"`num_textures` must be 2-{len(TEXTURE_NAMES)}, got {num_textures!r}.")
    if period < 2 or period % 2:
        raise ValueError(f"`period` must be an even number >= 2, got {period!r}.")
    low, high = regions
    if not 1 <= low <= high:
        raise ValueError(f"`regions` must be (min, max) with 1 <= min <= max, got {regions!r}.")
    rng = np.random.default_rng(seed)
    textures = [_texture(t, height + period, width + period, period) for t in range(num_textures)]
    rows, cols = np.mgrid[:height, :width]
    images = np.empty((n, height, width, 1), np.uint8)
    masks = np.empty((n, height, width), np.uint8)
    for i in range(n):
        count = rng.integers(low, high + 1)
        points = rng.random((count, 2)) * (height, width)
        distance = (rows[None] - points[:, 0, None, None]) ** 2 + (
            cols[None] - points[:, 1, None, None]) ** 2
        region = np.argmin(distance, axis=0)
        kinds = rng.integers(0, num_textures, count)
        mask = kinds[region]
        image = np.empty((height, width), np.float32)
        for r in range(count):
            dy, dx = rng.integers(0, period, 2)
            patch = textures[kinds[r]][dy:dy + height, dx:dx + width]
            image[region == r] = patch[region == r]
        image = np.clip(image + rng.normal(0.0, noise, image.shape), 0.0, 1.0)
        images[i, ..., 0] = np.round(image * 255).astype(np.uint8)
        masks[i] = mask
    return images, masks


def _middle(size):
    """The two central rows (or columns) of ``size``: the plus's arms and the bar."""
    return slice(size // 2 - 1, size // 2 + 1)


def _glyph(kind, size):
    glyph = np.zeros((size, size), np.float32)
    steps, middle = np.arange(size), _middle(size)
    if kind == 0:
        glyph[1:-1, 1:-1] = 1.0  # square
    elif kind == 1:
        glyph[middle, :] = glyph[:, middle] = 1.0  # plus
    else:
        glyph[steps, steps] = glyph[steps, size - 1 - steps] = 1.0  # X
    return glyph


def glyph_scenes(n, size=32, object_size=8, noise=0.3, seed=0):
    """``n`` grayscale images, each with one glyph (its class) and a distractor.

    Each image is uniform noise in ``[0, noise)``, one of the
    ``GLYPH_NAMES`` glyphs (class ``i % 3`` for image ``i``) drawn at full
    brightness in an ``object_size`` square at a random place, and a bar as
    bright as a glyph (2 pixels by ``object_size``) elsewhere, not
    overlapping it.  Only the glyph decides the class, so a classifier's
    class activation map should peak on the glyph, not on the bar.

    Args:
        n: number of images.
        size: image side (pixels); at least ``2 * object_size + 2``.
        object_size: the glyph's and the bar's side (>= 4).
        noise: the background's brightness range.
        seed: the same seed gives the same scenes.

    Returns:
        ``(images, labels, boxes)``: float32 ``[n, size, size, 1]`` in
        [0, 1], int64 ``[n]`` and int64 ``[n, 4]`` boxes of the glyphs as
        ``(top, left, height, width)``.

    Example:

    >>> from keras_contrastive.data import glyph_scenes
    >>> images, labels, boxes = glyph_scenes(6, seed=0)
    >>> images.shape, labels.tolist(), boxes.shape
    ((6, 32, 32, 1), [0, 1, 2, 0, 1, 2], (6, 4))
    """
    if object_size < 4:
        raise ValueError(f"`object_size` must be >= 4, got {object_size!r}.")
    if size < 2 * object_size + 2:
        raise ValueError(f"`size` must be >= 2 * object_size + 2 = {2 * object_size + 2} so "
                         f"the glyph and the bar fit apart, got size={size!r}.")
    rng = np.random.default_rng(seed)
    images = (rng.random((n, size, size, 1)) * noise).astype(np.float32)
    labels = np.arange(n, dtype=np.int64) % len(GLYPH_NAMES)
    boxes = np.zeros((n, 4), np.int64)
    glyphs = [_glyph(kind, object_size) for kind in range(len(GLYPH_NAMES))]
    bar = _middle(object_size)
    for i in range(n):
        while True:
            (r, c), (br, bc) = rng.integers(0, size - object_size, (2, 2))
            if abs(r - br) > object_size or abs(c - bc) > object_size:
                break
        boxes[i] = r, c, object_size, object_size
        patch = images[i, r:r + object_size, c:c + object_size, 0]
        images[i, r:r + object_size, c:c + object_size, 0] = np.maximum(patch, glyphs[labels[i]])
        images[i, br + bar.start:br + bar.stop, bc:bc + object_size, 0] = 1.0
    return images, labels, boxes
