"""Tests of keras_contrastive/views/pipeline.py."""
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.views import make_views, simclr_augment


def _protocol_augment(**overrides):
    kwargs = dict(channels=1, strength=0.5, crop_scale=(0.2, 1.0), grayscale_prob=0.0)
    kwargs.update(overrides)
    return simclr_augment(28, **kwargs)


@pytest.fixture
def labelled(fashion_mnist_train):
    images, labels = fashion_mnist_train
    return tf.data.Dataset.from_tensor_slices((images, labels))


def test_yields_a_tuple_of_float_views_in_unit_range_with_fixed_batch(labelled):
    views = make_views(labelled, _protocol_augment(), batch_size=256)
    assert set(views.element_spec) == {"global"}
    assert isinstance(views.element_spec["global"], tuple)
    batches = list(views)
    assert len(batches) == 2000 // 256  # remainder dropped, labels dropped
    for batch in batches:
        assert set(batch) == {"global"}
        v1, v2 = batch["global"]
        for view in (v1, v2):
            assert view.shape == (256, 28, 28, 1) and view.dtype == tf.float32
            assert float(tf.reduce_min(view)) >= 0.0
            assert float(tf.reduce_max(view)) <= 1.0


def test_views_of_one_image_differ_from_each_other_and_across_epochs(labelled):
    views = make_views(labelled.take(512), _protocol_augment(), batch_size=256,
                       shuffle_buffer=0)
    epoch1 = [tuple(v.numpy() for v in b["global"]) for b in views]
    epoch2 = [tuple(v.numpy() for v in b["global"]) for b in views]
    for (a1, b1), (a2, _) in zip(epoch1, epoch2):
        per_image = np.abs(a1 - b1).mean(axis=(1, 2, 3))
        assert (per_image > 0).mean() > 0.99 and per_image.mean() > 0.05
        assert (np.abs(a1 - a2).mean(axis=(1, 2, 3)) > 0).mean() > 0.99


def test_each_view_is_made_from_its_own_source_image(fashion_mnist_train):
    images = np.asarray(fashion_mnist_train[0][:600])
    source_index = {img.tobytes(): i for i, img in enumerate(images)}
    assert len(source_index) == 600
    # crop_scale (1, 1) on a square image always takes the whole image: with
    # no flip and no jitter, a view is exactly its (shuffled) source.
    identity = simclr_augment(28, channels=1, crop_scale=(1.0, 1.0), flip=False,
                              jitter_prob=0.0)
    views = make_views(tf.data.Dataset.from_tensor_slices(images), identity,
                       num_views=3, batch_size=100, seed=0)
    seen = []
    for batch in views:
        v1, v2, v3 = (v.numpy() for v in batch["global"])
        np.testing.assert_allclose(v1, v2, atol=1e-5)
        np.testing.assert_allclose(v1, v3, atol=1e-5)
        restored = np.round(v1 * 255.0).astype("uint8")
        np.testing.assert_allclose(v1, restored / 255.0, atol=1e-5)
        seen.extend(source_index[img.tobytes()] for img in restored)
    assert sorted(seen) == list(range(600))
    assert seen != list(range(600))  # shuffled


def test_float_images_are_taken_as_unit_range(fashion_mnist_train):
    images = np.asarray(fashion_mnist_train[0][:64], "float32") / 255.0
    identity = simclr_augment(28, channels=1, crop_scale=(1.0, 1.0), flip=False,
                              jitter_prob=0.0)
    views = make_views(tf.data.Dataset.from_tensor_slices(images), identity,
                       batch_size=64, shuffle_buffer=0)
    (v1, _), = [b["global"] for b in views]
    np.testing.assert_allclose(v1, images, atol=1e-5)


def test_rgb_pipeline_with_blur_and_solarization_and_three_views(fashion_mnist_train):
    gray = np.asarray(fashion_mnist_train[0][:256])
    rgb = np.concatenate([gray, gray // 2, 255 - gray], axis=-1)
    augment = simclr_augment(24, channels=3, blur_prob=0.5, solarize_prob=0.2, seed=0)
    views = make_views(tf.data.Dataset.from_tensor_slices(rgb), augment,
                       num_views=3, batch_size=128)
    batches = list(views)
    assert len(batches) == 2
    for batch in batches:
        assert len(batch["global"]) == 3
        for view in batch["global"]:
            assert view.shape == (128, 24, 24, 3)
            assert float(tf.reduce_min(view)) >= 0.0
            assert float(tf.reduce_max(view)) <= 1.0


def test_drop_remainder_false_keeps_the_last_partial_batch(fashion_mnist_train):
    images = np.asarray(fashion_mnist_train[0][:50])
    views = make_views(tf.data.Dataset.from_tensor_slices(images), _protocol_augment(),
                       batch_size=64, drop_remainder=False)
    shapes = [b["global"][0].shape[0] for b in views]
    assert shapes == [50]


def test_plain_function_augment_is_accepted(fashion_mnist_train):
    images = np.asarray(fashion_mnist_train[0][:32])
    views = make_views(tf.data.Dataset.from_tensor_slices(images),
                       lambda x: tf.image.flip_left_right(x), batch_size=32)
    (v1, v2), = [b["global"] for b in views]
    np.testing.assert_allclose(v1, v2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), "batch_size=0"),
        (dict(batch_size=-3), "batch_size=-3"),
        (dict(num_views=1), "num_views=1"),
        (dict(shuffle_buffer=-1), "shuffle_buffer=-1"),
        (dict(batch_size=4000), "has 2000 images, fewer than batch_size=4000"),
        (dict(seed=1.5), "seed=1.5"),
    ],
)
def test_bad_arguments_raise_before_anything_runs(labelled, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_views(labelled, _protocol_augment(), **kwargs)


def test_empty_dataset_is_rejected(labelled):
    with pytest.raises(ValueError, match="empty"):
        make_views(labelled.take(0), _protocol_augment(), batch_size=8)


def test_batched_images_are_rejected_as_rank_4(labelled):
    with pytest.raises(ValueError, match=re.escape("rank 3 [H, W, C]")):
        make_views(labelled.batch(8), _protocol_augment(), batch_size=8)


def test_crop_larger_than_images_is_rejected(labelled):
    with pytest.raises(
        ValueError, match="crop size 32x32 is larger than the 28x28 images"
    ):
        make_views(labelled, simclr_augment(32, channels=1), batch_size=8)


def test_unknown_cardinality_is_not_probed(labelled):
    filtered = labelled.filter(lambda image, label: label < 5)
    assert int(filtered.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    views = make_views(filtered, _protocol_augment(), batch_size=64)
    assert views.element_spec["global"][0].shape == (64, 28, 28, 1)


def test_tf_data_autotuning_model_is_off_unless_asked(labelled):
    """With tf.data's autotuning model on, each fit epoch waited for it when its
    iterator was dropped (BENCHMARKS.md, "Epoch overhead"); a later option wins."""
    views = make_views(labelled, _protocol_augment(), batch_size=64)
    assert views.options().autotune.enabled is False
    on = make_views(labelled, _protocol_augment(), batch_size=64, autotune=True)
    assert on.options().autotune.enabled is True
    options = tf.data.Options()
    options.autotune.enabled = True
    assert views.with_options(options).options().autotune.enabled is True
    # the maps still run in parallel and the views are what the pipeline made
    (v1, v2), = [b["global"] for b in views.take(1)]
    assert v1.shape == (64, 28, 28, 1) and float(tf.reduce_mean(tf.abs(v1 - v2))) > 0.01


def test_indices_name_each_views_source_image_the_same_way_every_epoch(fashion_mnist_train):
    images, labels = fashion_mnist_train[0][:96], fashion_mnist_train[1][:96]
    data = make_views(tf.data.Dataset.from_tensor_slices((images, labels)), lambda x: x,
                      batch_size=32, seed=1, labels=True, indices=True)
    assert data.element_spec["indices"].dtype == tf.int64
    orders = []
    for _ in range(2):  # shuffled anew each epoch, each image keeping its index
        order = []
        for batch in data:
            for view, index, label in zip(batch["global"][0].numpy(), batch["indices"].numpy(),
                                          batch["labels"].numpy()):
                np.testing.assert_array_equal(view, images[index] / np.float32(255.0))
                assert label == labels[index]
                order.append(int(index))
        assert sorted(order) == list(range(96))
        orders.append(order)
    assert orders[0] != orders[1]
    device = make_views(tf.data.Dataset.from_tensor_slices(images), lambda x: x, batch_size=32,
                        indices=True, augment_on="device")
    assert set(device.element_spec) == {"images", "indices"}
