"""A+: the strong policy reaches about half of the positives (binomial test) and no key crop."""
import keras
import numpy as np
import pytest

from keras_contrastive.views import MultiCrop, StrongerAugment


def _within_four_sigma(hits, n, p=0.5):
    return abs(hits - n * p) < 4 * np.sqrt(n * p * (1 - p))


def test_each_image_gets_the_strong_policy_with_probability_one_half():
    marker = keras.layers.Rescaling(0.0)  # the strong policy's output is all zeros
    plus = StrongerAugment(keras.layers.Identity(), marker, probability=0.5, seed=0)
    images = np.full((4000, 4, 4, 1), 0.7, np.float32)
    strong = (plus(images).numpy() == 0).all(axis=(1, 2, 3))
    assert _within_four_sigma(int(strong.sum()), 4000)
    assert not np.array_equal(strong, (plus(images).numpy() == 0).all(axis=(1, 2, 3)))


def test_multi_crop_a_plus_spares_the_key_crop():
    strategy = MultiCrop(28, 12, num_local=2, stronger=True, channels=1, key_index=1, seed=0)
    strategy.global_colour_plus.strong = keras.layers.Rescaling(0.0)
    strategy.local_colour_plus.strong = keras.layers.Rescaling(0.0)
    images = np.random.default_rng(0).uniform(0.2, 1.0, size=(1000, 28, 28, 1)).astype("float32")
    views = strategy(images)

    def strong(view):
        return int((view.numpy() == 0).all(axis=(1, 2, 3)).sum())

    assert strong(views["global"][1]) == 0  # the key crop: standard pipeline only
    for view in (views["global"][0],) + tuple(views["local"]):
        assert _within_four_sigma(strong(view), 1000)


def test_round_trip_and_bad_probability(tmp_path):
    plus = StrongerAugment(keras.layers.Identity(), probability=0.3, seed=1)
    restored = StrongerAugment.from_config(plus.get_config())
    assert restored.probability == 0.3 and restored.seed == 1
    with pytest.raises(ValueError, match="probability"):
        StrongerAugment(keras.layers.Identity(), probability=1.5)
