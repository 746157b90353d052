"""Semantic-mask views: only input classes come out, rotation is bounded, one class stays
one class, and no colour operation touches the maps."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import SemanticMaskViews, make_views


def _scenes(n, size=32, classes=6, seed=0):
    """Maps of 2-4 random rectangles of random classes on a background class."""
    rng = np.random.default_rng(seed)
    maps = np.zeros((n, size, size, 1), np.uint8)
    for m in maps:
        m[:] = rng.integers(classes)
        for _ in range(rng.integers(2, 5)):
            y, x = rng.integers(0, size - 4, 2)
            h, w = rng.integers(4, size // 2, 2)
            m[y:y + h, x:x + w] = rng.integers(classes)
    return maps


def test_output_classes_are_a_subset_of_the_input_classes():
    maps = _scenes(500)
    layer = SemanticMaskViews(32, num_classes=6, min_crop_ratio=0.3, max_angle=15, seed=0)
    views = layer(maps.astype(np.float32)).numpy()
    assert views.shape == (500, 32, 32, 6)
    np.testing.assert_array_equal(views.sum(axis=-1), 1.0)  # exactly one class per pixel
    for source, view in zip(maps, views):
        assert set(np.flatnonzero(view.reshape(-1, 6).any(axis=0))) <= set(np.unique(source))


def test_a_one_class_map_stays_that_class():
    maps = np.full((20, 32, 32, 1), 4, np.float32)
    views = SemanticMaskViews(24, num_classes=6, max_angle=3, seed=1)(maps).numpy()
    assert np.all(views[..., 4] == 1.0)


def test_rotation_angles_are_bounded_and_used():
    layer = SemanticMaskViews(32, num_classes=2, max_angle=3.0, seed=2)
    angles = np.degrees(layer.sample_angles(10_000).numpy())
    assert np.abs(angles).max() <= 3.0 and np.abs(angles).max() > 2.9
    # a vertical bar, unrotated crops (ratio 1, no flip): the view's tilt <= 3 degrees
    bar = np.zeros((200, 64, 64, 1), np.float32)
    bar[:, 4:60, 30:34] = 1
    layer = SemanticMaskViews(64, num_classes=2, min_crop_ratio=1.0, max_angle=3.0, flip=False,
                              seed=3)
    views = layer(bar).numpy()[..., 1]
    for view in views:
        rows = np.flatnonzero(view.any(axis=1))
        top, bottom = rows[0] + 2, rows[-1] - 2
        shift = np.mean(np.flatnonzero(view[bottom])) - np.mean(np.flatnonzero(view[top]))
        assert np.degrees(np.arctan2(abs(shift), bottom - top)) <= 3.0 + 2.0  # +-1 px of rounding


def test_views_from_make_views_keep_class_ids():
    maps = _scenes(64, seed=4)
    data = make_views(tf.data.Dataset.from_tensor_slices(maps),
                      SemanticMaskViews(32, num_classes=6, seed=0), batch_size=32, rescale=False)
    first, second = next(iter(data))["global"]
    assert first.shape == (32, 32, 32, 6) and not np.array_equal(first.numpy(), second.numpy())
    assert set(np.unique(first.numpy())) == {0.0, 1.0}


@pytest.mark.parametrize("kwargs,match", [({"min_crop_ratio": 0.0}, "min_crop_ratio"),
                                          ({"max_angle": 200}, "max_angle")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SemanticMaskViews(32, num_classes=3, **kwargs)


def test_rectangular_size_the_chapters_64_by_80_masks():
    from keras_contrastive.data import synthetic_street_masks

    masks = synthetic_street_masks(16, seed=0)[..., None].astype(np.float32)
    layer = SemanticMaskViews((64, 80), num_classes=10, min_crop_ratio=0.6, seed=0)
    views = layer(masks).numpy()
    assert views.shape == (16, 64, 80, 10)
    for source, view in zip(masks, views):
        assert set(np.flatnonzero(view.reshape(-1, 10).any(axis=0))) <= set(np.unique(source))
    restored = SemanticMaskViews.from_config(layer.get_config())
    assert restored.size == (64, 80) and restored(masks).shape == views.shape
    with pytest.raises(ValueError, match="an int or \\(height, width\\)"):
        SemanticMaskViews((64, 80, 3), num_classes=10)
