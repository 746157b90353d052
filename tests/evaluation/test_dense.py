"""Dense protocols (segment retrieval, class activation maps) and the SGD linear probe, each on
data whose answer is known."""
import keras
import numpy as np
import pytest

from keras_contrastive import backbones
from keras_contrastive.data import glyph_scenes, textured_scenes
from keras_contrastive.evaluation import (
    class_activation_maps, dense_encoder, linear_probe, linear_probe_from_features,
    plot_class_activation_maps, plot_segments, pointing_game, probe_classifier, segment_retrieval)
from tests.evaluation.test_linear_probe import as_images, gaussian_clusters, identity_encoder

SIZE = 32


def _cnn(seed, pooling="avg"):
    """Three 3x3 convolutions (stride 1, 2, 2) + global pooling: an 8x8 feature map."""
    keras.utils.set_random_seed(seed)
    return backbones.small_cnn((SIZE, SIZE, 1), filters=(16, 32, 32), batch_norm=False,
                               pooling=pooling)


def _constant_encoder():
    x = keras.Input((SIZE, SIZE, 1))
    y = keras.layers.Conv2D(8, 4, strides=4, kernel_initializer="zeros", bias_initializer="ones")(x)
    return keras.Model(x, keras.layers.GlobalAveragePooling2D()(y))


# --- segment retrieval --------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenes():
    images, masks = textured_scenes(160, size=(SIZE, SIZE), seed=0)
    return (images[:120], masks[:120]), (images[120:], masks[120:])


def test_textured_scenes_plant_every_texture_in_voronoi_regions():
    images, masks = textured_scenes(50, size=(SIZE, SIZE), num_textures=4, seed=3)
    frequencies = np.bincount(masks.ravel(), minlength=4) / masks.size
    assert np.all(frequencies > 0.15), frequencies  # every texture, none dominating
    again = textured_scenes(50, size=(SIZE, SIZE), num_textures=4, seed=3)
    assert np.array_equal(images, again[0]) and np.array_equal(masks, again[1])
    # each region is textured: pixels of the flat texture (3) vary only by noise, stripes by ~1
    flat = images[..., 0][masks == 3] / 255.0
    stripes = images[..., 0][masks == 0] / 255.0
    assert flat.std() < 0.15 < stripes.std()
    with pytest.raises(ValueError, match="num_textures"):
        textured_scenes(2, num_textures=9)
    with pytest.raises(ValueError, match="period"):
        textured_scenes(2, period=3)


def test_glyph_scenes_put_the_class_glyph_in_its_box_and_the_bar_outside():
    images, labels, boxes = glyph_scenes(60, seed=4)
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() == 1.0
    assert np.array_equal(np.bincount(labels), [20, 20, 20])
    again = glyph_scenes(60, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip((images, labels, boxes), again))
    for image, label, (top, left, height, width) in zip(images[..., 0], labels, boxes):
        inside = np.zeros(image.shape, bool)
        inside[top:top + height, left:left + width] = True
        glyph = image[inside] == 1.0
        # the glyph's lit pixels: square 36, plus 28, X 16 of 64
        assert glyph.sum() == (36, 28, 16)[label]
        assert (image[~inside] == 1.0).sum() == 2 * width  # the bar, nowhere else bright
    with pytest.raises(ValueError, match="size"):
        glyph_scenes(2, size=16)


def test_pointing_game_counts_peaks_inside_the_widened_box():
    maps = np.zeros((4, 10, 10))
    for i, (r, c) in enumerate([(2, 2), (1, 4), (6, 3), (5, 5)]):
        maps[i, r, c] = 1.0
    boxes = np.array([[2, 2, 3, 3]] * 4)  # rows and columns 2-4
    # (2, 2) inside; (1, 4) and (5, 5) one pixel out; (6, 3) two pixels out
    assert pointing_game(maps, boxes, tolerance=0) == 0.25
    assert pointing_game(maps, boxes, tolerance=1) == 0.75
    with pytest.raises(ValueError, match="boxes"):
        pointing_game(maps, boxes[:2])


def test_segment_retrieval_recovers_planted_regions_and_a_constant_encoder_does_not(scenes):
    train, val = scenes
    result = segment_retrieval(_cnn(0), train, val, k_clusters=8)
    # chance: 4 equally frequent classes -> IoU about 1/7 per class
    assert result["miou"] > 0.6, result["iou"]
    assert result["pixel_acc"] > 0.75
    assert result["predictions"].shape == val[1].shape
    constant = segment_retrieval(_constant_encoder(), train, val, k_clusters=8)
    assert constant["miou"] < 0.2, constant["iou"]  # one region per image, one label for all


def test_segment_retrieval_miou_matches_a_numpy_count_and_ignores_ignore_index(scenes):
    train, val = scenes
    masks = val[1].astype(np.int64).copy()
    masks[:, :4] = 255  # a band of unlabelled pixels
    result = segment_retrieval(_cnn(1), train, (val[0], masks), k_clusters=8)
    keep = masks != 255
    truth, predicted = masks[keep], result["predictions"][keep]
    ious = []
    for c in range(4):
        union = np.sum((truth == c) | (predicted == c))
        ious.append(np.sum((truth == c) & (predicted == c)) / union)
    assert result["miou"] == pytest.approx(np.mean(ious), abs=1e-9)
    assert result["pixel_acc"] == pytest.approx(np.mean(truth == predicted), abs=1e-9)


def test_segment_retrieval_refuses_bad_input(scenes):
    train, val = scenes
    with pytest.raises(ValueError, match="masks"):
        segment_retrieval(_cnn(0), train, (val[0], val[1][:, :, :, None]))
    with pytest.raises(ValueError, match="integer class ids"):
        segment_retrieval(_cnn(0), train, (val[0], val[1].astype("float32")))
    with pytest.raises(ValueError, match="num_classes"):
        segment_retrieval(_cnn(0), train, val, num_classes=2)
    vit_like = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="global pooling"):
        segment_retrieval(vit_like, train, val)


def test_dense_encoder_shares_the_encoders_weights():
    encoder = _cnn(0)
    dense = dense_encoder(encoder)
    images = np.random.default_rng(0).random((2, SIZE, SIZE, 1)).astype("float32")
    assert dense.output_shape == (None, 8, 8, 32)
    np.testing.assert_allclose(dense(images).numpy().mean(axis=(1, 2)), encoder(images).numpy(),
                               rtol=1e-5, atol=1e-6)
    conv = next(layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D))
    conv.kernel.assign(conv.kernel * 2.0)
    np.testing.assert_allclose(dense(images).numpy().mean(axis=(1, 2)), encoder(images).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_dense_encoder_is_the_spatial_encoder_of_feature_map_encoders_and_refuses_a_vit():
    keras.utils.set_random_seed(0)
    wrapped = backbones.as_encoder(backbones.resnet18((SIZE, SIZE, 1), width=4))  # pooled inside
    images = np.random.default_rng(0).random((2, SIZE, SIZE, 1)).astype("float32")
    dense = dense_encoder(wrapped)
    assert dense.output_shape == (None, 4, 4, 32)
    np.testing.assert_allclose(dense(images).numpy(),
                               backbones.spatial_encoder(wrapped)(images).numpy(), atol=1e-6)
    vit = backbones.vit((SIZE, SIZE, 1), patch_size=8, dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="'vit' gives patch tokens, not a feature map"):
        dense_encoder(vit)


# --- class activation maps ----------------------------------------------------------------

@pytest.fixture(scope="module")
def glyph_classifier():
    images, labels, boxes = glyph_scenes(1500)
    encoder = _cnn(0)
    head = keras.layers.Dense(3)
    model = keras.Sequential([encoder, head])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images[:1200], labels[:1200], epochs=8, batch_size=64, verbose=0)
    return encoder, head, (images[1200:], labels[1200:], boxes[1200:])


def test_class_activation_maps_find_the_object_that_decides_the_class(glyph_classifier, tmp_path):
    encoder, head, (images, labels, boxes) = glyph_classifier
    result = class_activation_maps(encoder, head, images, class_ids=labels)
    assert result["maps"].shape == images.shape[:3]
    assert result["maps"].min() == 0.0 and result["maps"].max() == 1.0
    # trained: the true class's map peaks on its glyph, not on the equally bright bar
    assert pointing_game(result["maps"], boxes) > 0.8
    # untrained networks peak on the glyph only about as often as on the bar
    untrained = class_activation_maps(_cnn(1), keras.layers.Dense(3), images, class_ids=labels)
    assert pointing_game(untrained["maps"], boxes) < 0.65
    # by default each map is the predicted class's
    predicted = class_activation_maps(encoder, head, images[:8])
    assert np.array_equal(predicted["class_ids"], np.argmax(predicted["scores"], axis=1))
    path = plot_class_activation_maps(images[:8], result["maps"][:8], str(tmp_path / "cam.png"),
                                      titles=labels[:8])
    assert open(path, "rb").read(4) == b"\x89PNG"


def test_class_activation_maps_average_to_the_class_scores():
    """Before scaling, the mean of class c's map is its score minus the bias (a linear probe's
    classifier from probe_classifier, standardisation folded in, included)."""
    encoder = _cnn(2)
    images, labels, _ = glyph_scenes(60, seed=1)
    features = encoder(images).numpy()
    details = linear_probe_from_features(features, labels, features, labels, l2_grid=[1.0],
                                         return_details=True)
    classifier = probe_classifier(details)
    result = class_activation_maps(encoder, classifier, images)
    np.testing.assert_allclose(result["scores"], classifier(features).numpy(), rtol=1e-4,
                               atol=1e-4)
    dense = dense_encoder(encoder)(images).numpy()
    weights = details["classifier"].coef_ / details["scaler"].scale_
    raw = np.einsum("bhwd,cd->bhwc", dense, weights)
    bias = classifier(np.zeros((1, dense.shape[-1]), np.float32)).numpy()
    np.testing.assert_allclose(raw.mean(axis=(1, 2)), result["scores"] - bias, rtol=1e-3,
                               atol=1e-3)


def test_class_activation_maps_refuse_non_linear_heads_and_max_pooling():
    images = np.random.default_rng(0).random((4, SIZE, SIZE, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="linear classifier"):
        class_activation_maps(_cnn(0), mlp, images)
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        class_activation_maps(_cnn(0, "max"), keras.layers.Dense(3),
                              images)


def test_plot_segments_writes_a_png(scenes, tmp_path):
    _, (images, masks) = scenes
    path = plot_segments(images[:4], masks[:4], masks[:4], str(tmp_path / "segments.png"))
    assert open(path, "rb").read(4) == b"\x89PNG"


# --- SGD linear protocol ------------------------------------------------------------------


def test_sgd_probe_classifies_separable_clusters_perfectly():
    x, y = gaussian_clusters(75)
    details = linear_probe(identity_encoder(10), (as_images(x[:150]), y[:150]),
                           (as_images(x[150:]), y[150:]), protocol="sgd", augment=None,
                           epochs=20, learning_rate=0.5, batch_size=32, return_details=True)
    assert details["accuracy"] >= 0.99 and details["protocol"] == "sgd"


def test_sgd_probe_keeps_the_encoder_and_its_batch_norm_statistics_frozen(fashion_mnist_train,
                                                                          fashion_mnist_test):
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, strides=2),
        keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D()])
    before = [w.copy() for w in encoder.get_weights()]
    details = linear_probe(encoder, fashion_mnist_train, fashion_mnist_test, protocol="sgd",
                           epochs=5, batch_size=128,
                           return_details=True)  # crop + flip views
    assert details["accuracy"] > 0.3  # 10 classes: chance is 0.1
    tuned_encoder = details["model"].get_layer(encoder.name)
    for old, new in zip(before, tuned_encoder.get_weights()):  # moving statistics included
        np.testing.assert_array_equal(old, new)
    assert details["model"].get_layer("feature_norm") is not None
    with pytest.raises(ValueError, match="protocol"):
        linear_probe(encoder, fashion_mnist_train, fashion_mnist_test, protocol="adam")


def test_evaluate_encoder_names_unknown_protocols_and_needs_a_cam_path():
    from keras_contrastive.evaluation import evaluate_encoder

    images, labels, _ = glyph_scenes(30)
    with pytest.raises(ValueError, match="protocols are knn, linear"):
        evaluate_encoder(_cnn(0), (images, labels), (images, labels), ("knn", "segment"))
    with pytest.raises(ValueError, match="cam_path"):
        evaluate_encoder(_cnn(0), (images, labels), (images, labels), ("cam",))
