"""I-JEPA's multi-block masks: targets disjoint from the context, block sizes in the paper's
ranges, exact counts per image, the same key -> the same masks."""
import numpy as np
import pytest

from keras_contrastive.views.masking import multiblock_masks


def _reachable_sides(grid, scale, aspect):
    """Every (h, w) the paper's _sample_block_size gives for scale and aspect in range
    (a fine scan of both ranges)."""
    s, ar = np.meshgrid(np.linspace(*scale, 401), np.linspace(*aspect, 401))
    keep = np.floor(np.float32(grid * grid) * s.astype(np.float32))
    h = np.clip(np.round(np.sqrt(keep * ar)), 1, grid - 1).astype(int)
    w = np.clip(np.round(np.sqrt(keep / ar)), 1, grid - 1).astype(int)
    return set(zip(h.ravel().tolist(), w.ravel().tolist()))


def _box(ids, grid):
    rows, cols = np.divmod(ids, grid)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize("grid,step", [(14, 0), (14, 1), (14, 2), (7, 0), (7, 5)])
def test_targets_are_rectangles_in_range_disjoint_from_an_exact_context(grid, step):
    context, targets = (a.numpy() for a in multiblock_masks(16, grid, seed=[3, step]))
    batch, blocks, count = targets.shape
    assert (batch, blocks) == (16, 4) and context.shape[0] == 16
    target_sides = _reachable_sides(grid, (0.15, 0.2), (0.75, 1.5))
    context_sides = {h for h, _ in _reachable_sides(grid, (0.85, 1.0), (1.0, 1.0))}
    for image_context, image_targets in zip(context, targets):
        # exact counts: K distinct context patches, T distinct patches in each block
        assert len(np.unique(image_context)) == context.shape[1] >= 1
        assert np.all((image_context >= 0) & (image_context < grid * grid))
        assert not np.intersect1d(image_context, image_targets).size
        for block in image_targets:
            assert len(np.unique(block)) == count
            h, w = _box(block, grid)
            assert h * w == count and (h, w) in target_sides  # a full rectangle of a paper size
        assert max(_box(image_context, grid)) <= max(context_sides)


def test_the_same_key_draws_the_same_masks_and_another_step_others():
    first = [a.numpy() for a in multiblock_masks(8, 14, seed=[0, 7])]
    again = [a.numpy() for a in multiblock_masks(8, 14, seed=[0, 7])]
    other = [a.numpy() for a in multiblock_masks(8, 14, seed=[0, 8])]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first, other))


def test_a_crowded_grid_still_gives_every_image_the_same_context_count():
    """4 targets of 2x2 on a 4x4 grid leave a 3x3 context little: every image still gets
    K >= 1 context patches, the batch's smallest context, none of them a target."""
    for step in range(5):
        context, targets = (a.numpy() for a in multiblock_masks(8, 4, seed=[1, step]))
        assert context.shape[1] >= 1
        for image_context, image_targets in zip(context, targets):
            covered = set(image_targets.ravel().tolist())
            # targets enter a context only where fewer than K patches are no target's
            assert (len(covered & set(image_context.tolist()))
                    == max(0, context.shape[1] - (16 - len(covered))))
