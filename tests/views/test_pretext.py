"""Pretext label generators are exact: rotations, jigsaw permutations and tiles, masks, Lab."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import pretext


def test_each_rotation_label_names_the_rotation(fashion_mnist_train):
    images = fashion_mnist_train[0][:5]
    rotated, labels = pretext.rotations(images)
    assert rotated.shape == (20, 28, 28, 1)
    for row, label in enumerate(labels.numpy()):
        np.testing.assert_array_equal(rotated[row].numpy(),
                                      np.rot90(images[row % 5], k=int(label), axes=(0, 1)))


def test_rotations_refuse_non_square_images():
    with pytest.raises(ValueError, match="square"):
        pretext.rotations(np.zeros((1, 4, 6, 1), np.float32))


def test_permutation_set_is_distinct_and_spread():
    perms = pretext.maximal_hamming_permutations(30, seed=3)
    assert perms.shape == (30, 9)
    assert all(sorted(p) == list(range(9)) for p in perms)
    distances = [(a != b).sum() for i, a in enumerate(perms) for b in perms[:i]]
    assert min(distances) >= 7
    np.testing.assert_array_equal(perms, pretext.maximal_hamming_permutations(30, seed=3))


def test_tiles_are_the_cells_and_a_permutation_is_undone(fashion_mnist_train):
    images = fashion_mnist_train[0][:4, :27, :27].astype(np.float32)
    tiles = pretext.jigsaw_tiles(images, jitter=0).numpy()
    for index in range(9):
        row, col = divmod(index, 3)
        np.testing.assert_array_equal(tiles[:, index],
                                      images[:, 9 * row:9 * row + 9, 9 * col:9 * col + 9])
    perms = pretext.maximal_hamming_permutations(10)
    labels = tf.constant([0, 3, 7, 9])
    shuffled = pretext.permute_tiles(tiles, labels, perms).numpy()
    for b, label in enumerate(labels.numpy()):
        for i in range(9):
            np.testing.assert_array_equal(shuffled[b, i], tiles[b, perms[label][i]])
    np.testing.assert_array_equal(pretext.unpermute_tiles(shuffled, labels, perms).numpy(), tiles)


def test_jittered_tiles_stay_inside_their_cells():
    # a distinct value per cell: every pixel of tile i must come from cell i
    values = np.repeat(np.repeat(np.arange(9, dtype=np.float32).reshape(3, 3), 9, 0), 9, 1)
    images = np.broadcast_to(values[None, :, :, None], (8, 27, 27, 1))
    tiles = pretext.jigsaw_tiles(images, jitter=3).numpy()
    assert tiles.shape == (8, 9, 6, 6, 1)
    for index in range(9):
        assert np.all(tiles[:, index] == index)


def test_a_fixed_offset_cuts_every_tile_at_that_offset(fashion_mnist_train):
    images = fashion_mnist_train[0][:4].astype(np.float32)  # 28x28: 9-px cells
    for offset in (0, 2):
        tiles = pretext.jigsaw_tiles(images, jitter=2, offset=offset).numpy()
        for index in range(9):
            row, col = divmod(index, 3)
            top, left = 9 * row + offset, 9 * col + offset
            np.testing.assert_array_equal(tiles[:, index], images[:, top:top + 7, left:left + 7])
    for bad in (3, -1, 1.0):
        with pytest.raises(ValueError, match="offset"):
            pretext.jigsaw_tiles(images, jitter=2, offset=bad)


def test_central_mask_and_lab_reference_colours():
    mask = pretext.central_mask(28, 28, 0.5).numpy()
    assert mask.sum() == 14 * 14 and mask[7:21, 7:21].all()
    lab = pretext.rgb_to_lab(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                      np.float32)).numpy()
    # sRGB primaries in CIE Lab (D65), the standard reference values
    expected = [[0, 0, 0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18],
                [32.30, 79.19, -107.86]]
    np.testing.assert_allclose(lab, expected, atol=0.1)
