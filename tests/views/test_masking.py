"""PatchMasking: exact counts, blocks that are blocks (against random masks, measured in the
same test), composition with other view strategies and make_views, seeds."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import views
from keras_contrastive.views.masking import masked_count


def _neighbours(masks, grid):
    """Mean number of hidden 4-neighbours of a hidden patch."""
    m = masks.reshape(-1, grid, grid).astype(int)
    padded = np.pad(m, ((0, 0), (1, 1), (1, 1)))
    count = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2]
             + padded[:, 1:-1, 2:])
    return (count * m).sum() / m.sum()


@pytest.mark.parametrize("mode", ["random", "block"])
def test_every_mask_hides_exactly_the_ratios_count(mode):
    masking = views.PatchMasking(grid=14, mask_ratio=0.4, mode=mode, seed=0)
    masks = masking.mask(64).numpy()
    assert masks.dtype == bool and masks.shape == (64, 196)
    assert set(masks.sum(axis=1)) == {masked_count(196, 0.4)}  # BEiT's 40 % of 14 x 14
    assert len({row.tobytes() for row in masks}) == 64  # a mask per image


def test_block_masks_are_blocks_and_random_masks_are_not():
    """At equal counts, a hidden patch of a block mask has more hidden neighbours
    than one of a uniform mask (whose expectation is 4 * 0.4 less the border)."""
    block = views.PatchMasking(grid=14, mask_ratio=0.4, mode="block", seed=0).mask(64).numpy()
    uniform = views.PatchMasking(grid=14, mask_ratio=0.4, seed=0).mask(64).numpy()
    assert _neighbours(block, 14) > _neighbours(uniform, 14) + 1.0


def test_composes_with_an_augmentation_a_view_strategy_and_make_views(fashion_mnist_train):
    images = fashion_mnist_train[0][:32]
    crops = views.MultiCrop(28, 12, num_local=2, channels=1, seed=0)
    made = views.PatchMasking(crops, grid=7, seed=0)(images.astype("float32") / 255.0)
    assert len(made["global"]) == len(made["masks"]) == 2 and len(made["local"]) == 2
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images),
                            views.PatchMasking(views.simclr_augment(28, channels=1, seed=0),
                                               grid=7, mode="block", seed=0), batch_size=16)
    batch = next(iter(data))
    assert [m.dtype for m in batch["masks"]] == [tf.bool, tf.bool]
    assert batch["masks"][0].shape == (16, 49) and batch["global"][0].dtype == tf.float32
    plain = views.PatchMasking(grid=7, seed=0)(images[:4].astype("float32") / 255.0)
    np.testing.assert_array_equal(plain["global"][0], images[:4] / np.float32(255.0))


def test_a_seed_repeats_the_masks_and_arguments_are_checked():
    first = views.PatchMasking(grid=7, mode="block", seed=5).mask(8).numpy()
    np.testing.assert_array_equal(
        views.PatchMasking(grid=7, mode="block", seed=5).mask(8).numpy(), first)
    for kwargs, match in (({"mode": "grid"}, "mode"), ({"mask_ratio": 1.0}, "mask_ratio"),
                          ({"grid": 1}, "grid"), ({"num_views": 1}, "num_views")):
        with pytest.raises(ValueError, match=match):
            views.PatchMasking(**kwargs)
