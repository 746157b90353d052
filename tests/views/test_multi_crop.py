"""Multi-crop geometry over 10,000 draws, constrained and IoU-limited crops, and local
crops that never reach MoCo's key encoder or queue."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, views
from keras_contrastive.views import MultiCrop, box_iou, overlap_share
from tests.conftest import small_cnn

DRAWS, SIZE = 10_000, 224


def _area_and_ratio(boxes):
    boxes = np.asarray(boxes, np.float64)
    return boxes[:, 2] * boxes[:, 3] / SIZE ** 2, boxes[:, 3] / boxes[:, 2], boxes


def _within(boxes, scale, ratio=(3 / 4, 4 / 3)):
    area, aspect, b = _area_and_ratio(boxes)
    # w and h are rounded to whole pixels: allow half a pixel on each side
    slack_area = (0.5 * (b[:, 2] + b[:, 3]) + 0.25) / SIZE ** 2
    slack_ratio = 0.5 / b[:, 2] * (1 + aspect)
    assert np.all(area >= scale[0] - slack_area) and np.all(area <= scale[1] + slack_area)
    assert np.all(aspect >= ratio[0] - slack_ratio) and np.all(aspect <= ratio[1] + slack_ratio)
    assert np.all(b[:, :2] >= 0) and np.all(b[:, :2] + b[:, 2:] <= SIZE)


def test_global_and_local_crops_have_the_requested_area_and_aspect():
    strategy = MultiCrop(160, 96, global_scale=(0.2, 1.0), local_scale=(0.05, 0.14), seed=0)
    g1, g2, _ = strategy.sample_global_boxes(DRAWS, SIZE, SIZE)
    local, _ = strategy.sample_local_boxes(g2, SIZE, SIZE)
    for boxes in (g1, g2):
        _within(boxes.numpy(), (0.2, 1.0))
    _within(local.numpy(), (0.05, 0.14))
    area = _area_and_ratio(local.numpy())[0]
    assert area.min() < 0.06 and area.max() > 0.13  # the whole range is used


@pytest.mark.parametrize("min_overlap", [0.2, 0.5])
def test_constrained_local_crops_always_overlap_the_key_crop(min_overlap):
    strategy = MultiCrop(160, 96, min_overlap=min_overlap, seed=1)
    _, key, _ = strategy.sample_global_boxes(DRAWS, SIZE, SIZE)
    local, fell_back = strategy.sample_local_boxes(key, SIZE, SIZE)
    share = overlap_share(local, key).numpy()
    assert share.min() >= min_overlap, share.min()
    _within(local.numpy(), (0.05, 0.14))  # the fallback keeps a sampled crop's size
    # unconstrained, a fifth of local crops miss the 20 % (what the constraint changes)
    free, _ = MultiCrop(160, 96, seed=1).sample_local_boxes(key, SIZE, SIZE)
    assert np.mean(overlap_share(free, key).numpy() < min_overlap) > 0.05
    assert np.mean(fell_back.numpy()) < 0.01


def test_iou_limited_pairs_are_all_below_the_threshold():
    strategy = MultiCrop(160, num_local=0, global_scale=(0.1, 0.5), max_iou=0.3, seed=2)
    g1, g2, fell_back = strategy.sample_global_boxes(DRAWS, SIZE, SIZE)
    iou = box_iou(g1, g2).numpy()
    assert iou.max() < 0.3, iou.max()
    assert strategy.fallback_share(DRAWS, SIZE, SIZE)["pairs"] == pytest.approx(
        float(np.mean(fell_back.numpy())), abs=0.02)


def test_box_helpers_against_hand_computed_values():
    np.testing.assert_allclose(overlap_share([[0, 0, 4, 4]], [[2, 2, 10, 10]]).numpy(), [0.25])
    np.testing.assert_allclose(box_iou([[0, 0, 4, 4]], [[4, 4, 4, 4]]).numpy(), [0.0])
    np.testing.assert_allclose(box_iou([[0, 0, 4, 4]], [[0, 0, 4, 4]]).numpy(), [1.0])


def test_views_are_batched_per_resolution(fashion_mnist_train):
    strategy = MultiCrop(28, 12, num_local=3, min_overlap=0.2, channels=1, seed=0)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:64]),
                            strategy, batch_size=32, seed=0)
    batch = next(iter(data))
    assert [tuple(v.shape) for v in batch["global"]] == [(32, 28, 28, 1)] * 2
    assert [tuple(v.shape) for v in batch["local"]] == [(32, 12, 12, 1)] * 3
    for view in batch["global"] + batch["local"]:
        assert 0.0 <= float(tf.reduce_min(view)) and float(tf.reduce_max(view)) <= 1.0


@pytest.mark.parametrize("cls", [models.MoCo, models.KNNMoCo])
def test_local_crops_never_reach_the_key_encoder_or_the_queue(cls, fashion_mnist_train):
    strategy = MultiCrop(28, 12, num_local=4, min_overlap=0.2, channels=1, seed=0)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:128]),
                            strategy, batch_size=32, seed=0)
    kwargs = {"warmup_epochs": 0} if cls is models.KNNMoCo else {}
    model = cls(small_cnn((None, None, 1)), queue_size=256, hidden_dim=32, projection_dim=16,
                **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    seen = []
    original = model.encode_key

    def counting_encode_key(images, training):
        seen.append(tuple(images.shape))
        return original(images, training)

    model.encode_key = counting_encode_key
    model.fit(data, epochs=1, verbose=0)
    assert seen and all(shape[1:3] == (28, 28) for shape in seen), seen
    # 4 steps of 32 global keys: the pointer moved by 128, not 128 x 5
    assert int(model.queue.pointer.numpy()) == 128
    if cls is models.KNNMoCo:
        assert int(model.feature_queue.pointer.numpy()) == 128


def test_local_queries_enter_the_loss(fashion_mnist_train):
    model = models.MoCo(small_cnn((None, None, 1)), queue_size=64, hidden_dim=32,
                        projection_dim=16)
    x = fashion_mnist_train[0][:16].astype("float32") / 255.0
    two = {"global": (tf.constant(x), tf.constant(x[:, :, ::-1]))}
    small = tf.image.resize(x, (12, 12))
    with_local = {**two, "local": (small, small[:, ::-1])}
    a, _ = model.compute_objective(two, training=False)
    b, _ = model.compute_objective(with_local, training=False)
    assert abs(float(a) - float(b)) > 1e-4


def test_plot_views_writes_originals_beside_their_views(tmp_path, fashion_mnist_train):
    import matplotlib.image

    strategy = MultiCrop(28, 12, num_local=3, min_overlap=0.2, channels=1, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(fashion_mnist_train)  # (image, label)
    path = views.plot_views(dataset, strategy, n=5, path=str(tmp_path / "views.png"))
    picture = matplotlib.image.imread(path)
    # 1 + 2 + 3 columns and 5 rows of 1.6-inch panels at 100 dpi
    assert picture.shape[:2] == (5 * 160, 6 * 160)
    assert picture[..., :3].std() > 0.1  # not blank
    plain = views.plot_views(fashion_mnist_train[0][:3], lambda x: x[:, ::-1], n=3,
                             path=str(tmp_path / "flip.png"))
    assert matplotlib.image.imread(plain).shape[:2] == (3 * 160, 3 * 160)


@pytest.mark.parametrize("cls", [models.SimCLR, models.BYOL, models.BarlowTwins])
def test_methods_that_ignore_local_views_refuse_them(cls, fashion_mnist_train):
    strategy = MultiCrop(28, 12, num_local=2, channels=1, seed=0)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:64]),
                            strategy, batch_size=32)
    model = cls(small_cnn((None, None, 1)))
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"does not use multi-crop local views"):
        model.fit(data, epochs=1, verbose=0)
