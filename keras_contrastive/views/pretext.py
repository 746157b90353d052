"""Label generators of the pretext tasks: rotations, jigsaw tiles, masks, Lab colour."""
import itertools

import numpy as np
import tensorflow as tf


def rotations(images):
    """Every image at 0, 90, 180 and 270 degrees (counter-clockwise) and its label.

    Returns ``(rotated [4B, H, W, C], labels [4B])``: rows ``k*B .. (k+1)*B``
    are the batch rotated by ``k * 90`` degrees with label ``k``.  Square
    images only (a rotated batch must keep its shape).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.pretext import rotations
    >>> x = np.arange(8, dtype="float32").reshape(2, 2, 2, 1)
    >>> rotated, labels = rotations(x)
    >>> labels.numpy().tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    """
    images = tf.convert_to_tensor(images)
    if images.shape[1] is not None and images.shape[1] != images.shape[2]:
        raise ValueError(f"rotations needs square images, got {images.shape[1]}x"
                         f"{images.shape[2]}.")
    batch = tf.shape(images)[0]
    rotated = tf.concat([tf.image.rot90(images, k) for k in range(4)], axis=0)
    labels = tf.repeat(tf.range(4, dtype=tf.int64), batch)
    return rotated, labels


def maximal_hamming_permutations(count, tiles=9, seed=0):
    """``count`` permutations of ``tiles`` tiles, far apart in Hamming distance.

    Noroozi & Favaro's greedy selection (their Algorithm 1) with the max-min
    criterion: start from a random permutation, then repeatedly add the
    permutation whose smallest Hamming distance to those chosen is largest
    (ties broken at random).  ``tiles=9`` searches all 9! orderings.

    Returns:
        An int32 array ``[count, tiles]``.

    Example:

    >>> from keras_contrastive.views.pretext import maximal_hamming_permutations
    >>> perms = maximal_hamming_permutations(10)
    >>> perms.shape, int(min((a != b).sum() for i, a in enumerate(perms) for b in perms[:i]))
    ((10, 9), 8)
    """
    if tiles > 10:
        raise ValueError(f"`tiles` must be <= 10 (an exhaustive search), got {tiles}.")
    every = np.array(list(itertools.permutations(range(tiles))), dtype=np.int8)
    if not 1 <= count <= len(every):
        raise ValueError(f"`count` must be in [1, {len(every)}], got {count}.")
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(every)))]
    nearest = (every != every[chosen[0]]).sum(axis=1)
    for _ in range(count - 1):
        candidates = np.flatnonzero(nearest == nearest.max())
        pick = int(rng.choice(candidates))
        chosen.append(pick)
        nearest = np.minimum(nearest, (every != every[pick]).sum(axis=1))
    return every[chosen].astype(np.int32)


def jigsaw_tiles(images, grid=3, jitter=1, seed=None, offset=None):
    """Cuts each image into ``grid x grid`` cells and takes a tile from each.

    Each tile is ``cell - jitter`` pixels wide, at a random offset in
    ``[0, jitter]`` inside its cell (per image and tile), so that tiles do not
    share edges (the shortcut the paper's gaps remove).  ``offset``, an
    integer in ``[0, jitter]``, fixes that offset for every tile instead (a
    deterministic cut, for evaluating the tile encoder).

    Returns:
        ``[B, grid*grid, tile, tile, C]`` in row-major cell order.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.pretext import jigsaw_tiles
    >>> jigsaw_tiles(np.zeros((2, 27, 27, 1), "float32"), jitter=2).shape
    TensorShape([2, 9, 7, 7, 1])
    >>> image = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    >>> jigsaw_tiles(image, grid=2, jitter=1, offset=1)[0, 1, :, :, 0].numpy().tolist()
    [[10.0, 11.0], [16.0, 17.0]]
    """
    images = tf.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    cell = min(height, width) // grid
    tile = cell - jitter
    if tile < 1:
        raise ValueError(f"jigsaw_tiles: {height}x{width} images give {cell}-px cells, too "
                         f"small for jitter={jitter}.")
    batch = tf.shape(images)[0]
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= jitter:
            raise ValueError(f"jigsaw_tiles: `offset` must be an integer in [0, jitter={jitter}], "
                             f"got {offset!r}.")
        offsets = tf.fill([batch, grid * grid, 2], offset)
    elif seed is not None:
        offsets = tf.random.stateless_uniform(
            [batch, grid * grid, 2], seed=[seed, 1], maxval=jitter + 1, dtype=tf.int32)
    else:
        offsets = tf.random.uniform([batch, grid * grid, 2], maxval=jitter + 1, dtype=tf.int32)
    tiles = []
    steps = tf.range(tile)
    for index in range(grid * grid):
        row, col = divmod(index, grid)
        rows = row * cell + offsets[:, index, :1] + steps  # [B, tile]
        cols = col * cell + offsets[:, index, 1:] + steps
        strip = tf.gather(images, rows, axis=1, batch_dims=1)  # [B, tile, W, C]
        tiles.append(tf.gather(strip, cols, axis=2, batch_dims=1))
    return tf.stack(tiles, axis=1)


def permute_tiles(tiles, permutation_indices, permutations):
    """Tile ``i`` of the output is tile ``permutations[index][i]`` of the input.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.pretext import permute_tiles
    >>> tiles = tf.constant([[[10.0], [11.0], [12.0]]])  # one image, 3 tiles
    >>> permute_tiles(tiles, [1], [[0, 1, 2], [2, 0, 1]])[..., 0].numpy()
    array([[12., 10., 11.]], dtype=float32)
    """
    order = tf.gather(tf.convert_to_tensor(permutations), permutation_indices)  # [B, n]
    return tf.gather(tiles, order, axis=1, batch_dims=1)


def unpermute_tiles(tiles, permutation_indices, permutations):
    """The inverse of :func:`permute_tiles`.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.pretext import permute_tiles, unpermute_tiles
    >>> tiles = tf.constant([[[10.0], [11.0], [12.0]]])
    >>> shuffled = permute_tiles(tiles, [1], [[0, 1, 2], [2, 0, 1]])
    >>> unpermute_tiles(shuffled, [1], [[0, 1, 2], [2, 0, 1]])[..., 0].numpy()
    array([[10., 11., 12.]], dtype=float32)
    """
    order = tf.gather(tf.convert_to_tensor(permutations), permutation_indices)
    inverse = tf.argsort(order, axis=1)
    return tf.gather(tiles, inverse, axis=1, batch_dims=1)


def central_mask(height, width, fraction=0.5):
    """A ``[H, W, 1]`` float mask, 1 on the central ``fraction`` of each side.

    Example:

    >>> from keras_contrastive.views.pretext import central_mask
    >>> int(central_mask(8, 8).numpy().sum())
    16
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"`fraction` must be in (0, 1), got {fraction!r}.")
    h, w = max(1, int(round(height * fraction))), max(1, int(round(width * fraction)))
    top, left = (height - h) // 2, (width - w) // 2
    mask = np.zeros((height, width, 1), np.float32)
    mask[top:top + h, left:left + w] = 1.0
    return tf.constant(mask)


def rgb_to_lab(rgb):
    """sRGB in [0, 1] -> CIE Lab (D65): ``L`` in [0, 100], ``a, b`` about [-128, 127].

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.pretext import rgb_to_lab
    >>> np.round(rgb_to_lab(np.ones((1, 3), "float32")).numpy(), 2).tolist()  # white
    [[100.0, 0.0, 0.0]]
    """
    rgb = tf.cast(rgb, tf.float32)
    linear = tf.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = tf.constant([[0.412453, 0.212671, 0.019334],
                          [0.357580, 0.715160, 0.119193],
                          [0.180423, 0.072169, 0.950227]])
    xyz = tf.tensordot(linear, to_xyz, axes=1) / tf.constant([0.950456, 1.0, 1.088754])
    f = tf.where(xyz > 0.008856, tf.math.pow(tf.maximum(xyz, 1e-12), 1.0 / 3.0),
                 7.787 * xyz + 16.0 / 116.0)
    lightness = tf.where(xyz[..., 1] > 0.008856, 116.0 * f[..., 1] - 16.0, 903.3 * xyz[..., 1])
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return tf.stack([lightness, a, b], axis=-1)
