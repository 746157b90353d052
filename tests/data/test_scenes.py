"""Scene-centric images of real Fashion-MNIST garments: masks, boxes, labels, the object-centric
twin and the long-tailed subsampler."""
import os

import numpy as np
import pytest

from keras_contrastive import data as kc_data
from keras_contrastive.data import (
    SCENE_DATASETS, fashion_scenes, load_fashion_mnist_arrays, long_tailed_indices,
    uniform_indices)

SIZE = 48


@pytest.fixture(scope="module")
def scenes():
    return fashion_scenes("test", 64, size=SIZE, seed=3)


def test_scenes_are_seeded_and_deterministic(scenes):
    again = fashion_scenes("test", 64, size=SIZE, seed=3)
    other = fashion_scenes("test", 64, size=SIZE, seed=4)
    for field in ("images", "masks", "labels", "boxes", "areas", "sources"):
        assert np.array_equal(getattr(scenes, field), getattr(again, field)), field
    assert not np.array_equal(scenes.images, other.images)


def test_masks_match_the_pixels_each_garment_changed(scenes):
    """A garment's mask pixels are the pixels its tinted shading painted: rebuild each scene's
    garments from the real Fashion-MNIST file and check the mask against them."""
    garments, classes = load_fashion_mnist_arrays("test")
    assert scenes.images.shape == (64, SIZE, SIZE, 3) and scenes.masks.shape == (64, SIZE, SIZE)
    for i in range(len(scenes)):
        present = scenes.areas[i] > 0
        assert 1 <= present.sum() <= 4
        # each garment's mask id is 1 + its Fashion-MNIST class, its area its mask's pixels
        for j in np.flatnonzero(present):
            source = scenes.sources[i, j]
            assert scenes.object_classes[i, j] == classes[source]
            region = scenes.masks[i] == 1 + classes[source]
            assert region.sum() >= scenes.areas[i, j]  # >: two garments of one class
            top, left, height, width = scenes.boxes[i, j]
            assert region[top:top + height, left:left + width].any()
        assert scenes.areas[i].sum() == (scenes.masks[i] > 0).sum()
        # the main object is the one with the most visible pixels
        assert scenes.labels[i] == scenes.object_classes[i, scenes.areas[i].argmax()]
    # garment pixels are saturated tints; background pixels are dull: on average the garment
    # pixels' saturation is well above the background's
    rgb = scenes.images.astype(float)
    saturation = (rgb.max(-1) - rgb.min(-1)) / np.maximum(rgb.max(-1), 1)
    assert saturation[scenes.masks > 0].mean() > saturation[scenes.masks == 0].mean() + 0.2


def test_a_box_bounds_exactly_its_garments_visible_pixels():
    scenes = fashion_scenes("train", 32, size=SIZE, objects=(1, 1), seed=0)
    for i in range(len(scenes)):
        rows, cols = np.nonzero(scenes.masks[i])
        assert tuple(scenes.boxes[i, 0]) == (rows.min(), cols.min(), rows.max() - rows.min() + 1,
                                             cols.max() - cols.min() + 1)


def test_object_centric_twin_holds_each_scenes_main_garment_centred():
    scenes = fashion_scenes("train", 48, size=SIZE, seed=5)
    twins = fashion_scenes("train", 48, size=SIZE, seed=5, object_centric=True)
    assert np.array_equal(twins.labels, scenes.labels)
    main = scenes.areas.argmax(axis=1)
    assert np.array_equal(twins.sources[:, 0], scenes.sources[np.arange(48), main])
    assert (twins.areas[:, 1:] == 0).all()
    # centred: the box centre of every twin is within 3 px of the canvas centre
    top, left, height, width = twins.boxes[:, 0].T
    assert np.abs(top + height / 2 - SIZE / 2).max() <= 3 + SIZE * 0.15
    assert np.abs(left + width / 2 - SIZE / 2).max() <= 3 + SIZE * 0.15
    # and larger than the scene's main garment on average
    assert twins.areas[:, 0].mean() > 1.5 * scenes.areas.max(axis=1).mean()


def test_train_scenes_use_train_garments_and_test_scenes_test_garments():
    train = fashion_scenes("train", 16, seed=0)
    test = fashion_scenes("test", 16, seed=0)
    garments_train, _ = load_fashion_mnist_arrays("train")
    assert train.sources.max() < len(garments_train)
    assert test.sources.max() < 10_000
    assert not np.array_equal(train.images, test.images)


def test_long_tailed_subset_follows_a_pareto_profile_and_uniform_is_balanced():
    _, labels = load_fashion_mnist_arrays("train")
    tail = long_tailed_indices(labels, 12_000, seed=0)
    flat = uniform_indices(labels, 12_000, seed=0)
    assert len(tail) == len(flat) == 12_000 and len(np.unique(tail)) == 12_000
    tail_sizes = np.sort(np.bincount(labels[tail], minlength=10))[::-1]
    flat_sizes = np.bincount(labels[flat], minlength=10)
    assert flat_sizes.tolist() == [1200] * 10
    assert tail_sizes[0] / tail_sizes[-1] > 100  # head-to-tail about 256, as ImageNet-LT's
    assert np.all(np.diff(tail_sizes) <= 0) and tail_sizes[-1] >= 1
    # the same seed, the same subset; long-tailed scenes draw from it
    assert np.array_equal(tail, long_tailed_indices(labels, 12_000, seed=0))
    scenes = fashion_scenes("train", 200, sources=tail, seed=0)
    counts = np.bincount(scenes.object_classes[scenes.object_classes >= 0], minlength=10)
    assert counts.max() > 20 * max(counts.min(), 1)


def test_named_scene_data_sets_are_known_to_the_data_layer():
    assert set(SCENE_DATASETS) <= set(kc_data.NAMED_ARRAYS)


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "validation"}, "split"), ({"n": 0}, "`n`"), ({"size": 8}, "size"),
    ({"objects": (0, 2)}, "objects"), ({"objects": (1, 5)}, "objects"),
    ({"scale": (0.5, 0.2)}, "scale"), ({"min_visible": 1.5}, "min_visible"),
    ({"sources": []}, "sources")])
def test_bad_scene_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fashion_scenes(**{"split": "test", "n": 2, **kwargs})


def test_named_scenes_are_cached_on_disk_and_a_broken_cache_is_drawn_again(tmp_path, monkeypatch):
    from keras_contrastive.data import scenes as scenes_module

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(scenes_module, "SCENE_SIZES", {"train": 40, "test": 20})
    scenes_module._named_scenes.cache_clear()
    try:
        first = scenes_module.scene_arrays("fashion_scenes", "test", masks=True)
        path = scenes_module._cache_path("fashion_scenes", "test")
        assert path.startswith(str(tmp_path)) and os.path.exists(path)
        scenes_module._named_scenes.cache_clear()
        with open(path, "r+b") as file:  # a file cut short by a kill
            file.truncate(100)
        again = scenes_module.scene_arrays("fashion_scenes", "test", masks=True)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
        scenes_module._named_scenes.cache_clear()
        cached = scenes_module.scene_arrays("fashion_scenes", "test", masks=True)
        assert all(np.array_equal(a, b) for a, b in zip(first, cached))
        assert len(first[0]) == 20
    finally:
        scenes_module._named_scenes.cache_clear()
