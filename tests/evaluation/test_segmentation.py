"""Segmentation transfer on scenes: mIoU against an independent reference, the constant encoder
as the floor, a supervised encoder above random init."""
import keras
import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from keras_contrastive import backbones
from keras_contrastive.data import fashion_scenes
from keras_contrastive.evaluation import (
    class_activation_maps, extract_features, linear_probe_from_features, mean_iou,
    pointing_game, probe_classifier, segmentation_transfer)

SIZE = 32


@pytest.fixture(scope="module")
def scenes():
    train = fashion_scenes("train", 600, size=SIZE, seed=0)
    test = fashion_scenes("test", 200, size=SIZE, seed=0)
    return train, test


def test_mean_iou_equals_sklearns_jaccard_over_present_classes():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 5, size=(6, 8, 8))
    predictions = np.where(rng.random((6, 8, 8)) < 0.6, masks, rng.integers(0, 5, size=(6, 8, 8)))
    masks[0, 0, :3] = 255  # ignored pixels count nowhere
    result = mean_iou(masks, predictions, num_classes=7)
    keep = masks != 255
    reference = jaccard_score(masks[keep], predictions[keep], labels=range(5), average=None)
    assert np.allclose(result["iou"][:5], reference)
    assert np.isnan(result["iou"][5:]).all()  # absent from both: not averaged
    assert result["miou"] == pytest.approx(reference.mean())
    assert result["pixel_acc"] == pytest.approx((masks[keep] == predictions[keep]).mean())


def _constant_encoder():
    x = keras.Input((SIZE, SIZE, 3))
    y = keras.layers.Conv2D(8, 4, strides=4, kernel_initializer="zeros", bias_initializer="ones")(x)
    return keras.Model(x, keras.layers.GlobalAveragePooling2D()(y))


def _supervised_encoder(seed=0, epochs=8):
    """The same CNN trained as a garment classifier with labels, on object-centric images
    (the scenes' twin: one centred garment each; about 59 % training accuracy)."""
    objects = fashion_scenes("train", 3000, size=SIZE, seed=1, object_centric=True)
    encoder = _cnn(seed)
    classifier = keras.Sequential([encoder, keras.layers.Dense(10)])
    classifier.compile(keras.optimizers.Adam(3e-3),
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(objects.images.astype("float32") / 255.0, objects.labels, batch_size=64,
                   epochs=epochs, verbose=0)
    return encoder


def _cnn(seed):
    keras.utils.set_random_seed(seed)
    return backbones.small_cnn((SIZE, SIZE, 3), filters=(16, 32, 64))


@pytest.mark.parametrize("head", ["linear", "decoder"])
def test_constant_encoder_scores_the_floor_of_predicting_background_everywhere(scenes, head):
    train, test = scenes
    result = segmentation_transfer(_constant_encoder(), (train.images, train.masks),
                                   (test.images, test.masks), num_classes=11, head=head, epochs=3)
    floor = mean_iou(test.masks, np.zeros_like(test.masks), num_classes=11)
    assert (result["predictions"] == 0).all()
    assert result["miou"] == pytest.approx(floor["miou"])


@pytest.fixture(scope="module")
def supervised():
    return _supervised_encoder()


def test_supervised_encoder_beats_random_init_beats_the_floor(scenes, supervised):
    train, test = scenes
    seg_train, seg_test = (train.images[:300], train.masks[:300]), (test.images, test.masks)
    floor = mean_iou(test.masks, np.zeros_like(test.masks), num_classes=11)["miou"]
    random_init = segmentation_transfer(_cnn(0), seg_train, seg_test, num_classes=11, epochs=10)
    supervised = segmentation_transfer(supervised, seg_train, seg_test, num_classes=11, epochs=10)
    # measured over seeds 0-2: random init 0.095-0.113, supervised 0.134-0.139
    assert random_init["miou"] > floor + 0.02, (random_init["miou"], floor)
    assert supervised["miou"] > random_init["miou"] + 0.01, (supervised["miou"],
                                                             random_init["miou"])


@pytest.mark.parametrize("kwargs, match", [
    ({"head": "mlp"}, "head"), ({"epochs": 0}, "epochs"), ({"num_classes": 3}, "num_classes")])
def test_bad_segmentation_arguments_are_refused_by_name(scenes, kwargs, match):
    train, test = scenes
    with pytest.raises(ValueError, match=match):
        segmentation_transfer(_constant_encoder(), (train.images[:4], train.masks[:4]),
                              (test.images[:4], test.masks[:4]), **kwargs)


def test_a_vits_patch_tokens_are_segmented_on_their_grid(scenes):
    train, test = scenes
    keras.utils.set_random_seed(0)
    vit = backbones.vit((SIZE, SIZE, 3), patch_size=8, dim=32, depth=1, num_heads=2)
    result = segmentation_transfer(vit, (train.images[:64], train.masks[:64]),
                                   (test.images[:16], test.masks[:16]), num_classes=11, epochs=1)
    assert result["predictions"].shape == (16, SIZE, SIZE)


def test_a_densecl_encoder_is_segmented(scenes):
    """The segmentation protocol reads the feature map that DenseCL's dense loss trains:
    the locations of its query network are the evaluator's map, and the encoder runs."""
    from keras_contrastive import models

    train, test = scenes
    model = models.DenseCL(_cnn(0), queue_size=32, projection_dim=8, hidden_dim=16)
    x = train.images[:4].astype("float32") / 255.0
    feature_map = backbones.spatial_encoder(model.feature_extractor())(x)
    np.testing.assert_allclose(np.reshape(feature_map, (4, -1, 64)), model.query_network(x)[2],
                               rtol=1e-6)
    result = segmentation_transfer(model.feature_extractor(), (train.images[:32], train.masks[:32]),
                                   (test.images[:8], test.masks[:8]), num_classes=11, epochs=1)
    assert result["predictions"].shape == (8, SIZE, SIZE) and 0.0 <= result["miou"] <= 1.0


def _pointing(encoder, train, test):
    train_features, train_labels = extract_features(encoder, (train.images, train.labels))
    test_features, test_labels = extract_features(encoder, (test.images, test.labels))
    probe = linear_probe_from_features(train_features, train_labels, test_features, test_labels,
                                       return_details=True)
    maps = class_activation_maps(encoder, probe_classifier(probe), test.images,
                                 class_ids=test.labels)["maps"]
    return pointing_game(maps, test.main_boxes(), tolerance=0)


@pytest.mark.slow  # trains the module's supervised encoder (about 25 s) when it runs alone
def test_cams_of_a_supervised_encoder_point_at_the_main_garment_more_than_random_inits(
        scenes, supervised):
    """The CAM pointing game on scenes: the probe's map for the true class peaks inside the main
    garment's box (sizing run, tolerance 1, seeds 0-1: random init 0.28-0.40, supervised
    0.53-0.65; this test scores tolerance 0)."""
    train, test = scenes
    assert _pointing(supervised, train, test) > _pointing(_cnn(0), train, test) + 0.05
