"""The synthetic street-mask generator: classes present, geometry plausible,
pairs of the same place differ but share its layout, splits disjoint."""
import numpy as np
import pytest

from keras_contrastive.data import (
    STREET_CLASSES, plot_street_mask_pairs, street_mask_splits, synthetic_street_masks)


@pytest.fixture(scope="module")
def pairs():
    return synthetic_street_masks(120, seed=3, pairs=True)


def test_shapes_dtype_and_seed():
    masks = synthetic_street_masks(6, size=(48, 60), seed=0)
    assert masks.shape == (6, 48, 60) and masks.dtype == np.uint8
    assert masks.max() < len(STREET_CLASSES)
    np.testing.assert_array_equal(masks, synthetic_street_masks(6, size=(48, 60), seed=0))
    assert not np.array_equal(masks, synthetic_street_masks(6, size=(48, 60), seed=1))


def test_every_class_appears_and_every_scene_has_sky_road_buildings():
    masks = synthetic_street_masks(200, seed=0)
    present = np.stack([(masks == c).any(axis=(1, 2)) for c in range(len(STREET_CLASSES))], 1)
    assert present.any(axis=0).all(), dict(zip(STREET_CLASSES, present.mean(0)))
    for name in ("sky", "road", "building", "sidewalk", "car", "pole"):
        assert present[:, STREET_CLASSES.index(name)].mean() > 0.9, name
    for name in ("vegetation", "person", "sign"):
        assert present[:, STREET_CLASSES.index(name)].mean() > 0.3, name


def test_geometry_sky_on_top_road_at_the_bottom_converging_to_the_horizon():
    masks = synthetic_street_masks(100, seed=1)
    sky, road = STREET_CLASSES.index("sky"), STREET_CLASSES.index("road")
    rows = np.arange(masks.shape[1])[None, :, None]
    for mask in masks:
        sky_rows, road_rows = np.nonzero(mask == sky)[0], np.nonzero(mask == road)[0]
        assert sky_rows.max() < masks.shape[1] // 2 + 2  # above the horizon (+ boundary noise)
        assert road_rows.min() > sky_rows.min() and road_rows.mean() > sky_rows.mean() + 20
    # perspective: the road widens row by row towards the camera
    width = (masks == road).sum(axis=2).mean(axis=0)
    lower = width[masks.shape[1] // 2:]
    assert np.all(np.diff(lower) >= -1.0) and lower[-1] > 3 * max(lower[0], 1.0)


def test_pairs_differ_but_share_the_layout(pairs):
    queries, database = pairs
    agreement = (queries[:, None] == database[None]).mean(axis=(2, 3))  # [query, database]
    same = agreement.diagonal()
    others = agreement[~np.eye(len(queries), dtype=bool)]
    assert same.max() < 0.99  # another viewpoint, other cars/people, vegetation, noise
    assert same.mean() > others.mean() + 0.08
    # the true pair is the pixel-wise nearest database mask far above chance (1/120)
    recall_at_1 = np.mean(agreement.argmax(axis=1) == np.arange(len(queries)))
    assert recall_at_1 > 0.3, recall_at_1


def test_splits_are_sized_as_asked_and_come_from_different_scenes():
    splits = street_mask_splits(unpaired=40, train_pairs=12, test_pairs=8, seed=0)
    assert splits["unpaired"].shape == (40, 64, 80)
    assert splits["train_pairs"][0].shape == splits["train_pairs"][1].shape == (12, 64, 80)
    assert splits["test_pairs"][0].shape == (8, 64, 80)
    flat = {m.tobytes() for m in splits["unpaired"]}
    assert not flat & {m.tobytes() for m in splits["test_pairs"][0]}
    assert not flat & {m.tobytes() for m in splits["train_pairs"][0]}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_scenes must be a positive integer"):
        synthetic_street_masks(0)
    with pytest.raises(ValueError, match="at least 16 x 16"):
        synthetic_street_masks(2, size=(8, 80))


def test_plot_writes_a_png_of_query_and_database_rows(pairs, tmp_path):
    path = plot_street_mask_pairs(*pairs, tmp_path / "pairs.png", n=4)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
