"""Pretext tasks learn on real images (Fashion-MNIST; class-tinted for colorization),
refuse unusable inputs, and round-trip."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, views
from tests.conftest import (
    assert_round_trip, fit_on_one_and_two_replicas, fixed_views, small_cnn, sync_bn_encoder)

# a fixed colour per class: chroma is predictable from the garment's shape
PALETTE = np.array([[1, .2, .2], [.2, 1, .2], [.2, .2, 1], [1, 1, .2], [1, .2, 1], [.2, 1, 1],
                    [1, .6, .2], [.6, .2, 1], [.2, .6, 1], [.6, 1, .2]], np.float32)


def _views(images, batch_size=64):
    return views.make_views(tf.data.Dataset.from_tensor_slices(images), lambda x: x,
                            batch_size=batch_size, seed=0)


CASES = {
    # name: (model, optimizer, chance-level loss to end below)
    "rotation": (lambda: models.RotationPrediction(small_cnn()),
                 lambda: keras.optimizers.SGD(0.05, momentum=0.9), np.log(4)),
    "jigsaw": (lambda: models.Jigsaw(small_cnn((None, None, 1)), num_permutations=30,
                                     hidden_dim=128),
               lambda: keras.optimizers.SGD(0.05, momentum=0.9), np.log(30)),
    "inpainting": (lambda: models.Inpainting(small_cnn()), lambda: keras.optimizers.Adam(1e-3),
                   None),
    "colorization": (lambda: models.Colorization(small_cnn()),
                     lambda: keras.optimizers.Adam(1e-3), None),
}


def _images(name, fashion_mnist_train):
    images, labels = fashion_mnist_train[0][:1024], fashion_mnist_train[1][:1024]
    if name != "colorization":
        return images
    return images.astype(np.float32) / 255.0 * PALETTE[labels][:, None, None, :]


def _train(name, fashion_mnist_train):
    """``CASES[name]`` from seed 0, 8 epochs on 1,024 images (128 steps)."""
    build, optimizer, _ = CASES[name]
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=optimizer())
    history = model.fit(_views(_images(name, fashion_mnist_train)), epochs=8, verbose=0).history
    return model, history


@pytest.fixture(scope="module")
def trained_inpainting(fashion_mnist_train):
    """The inpainting model both learning tests check, trained once (built from
    the same fresh Keras state and seed the autouse fixture gives a test)."""
    keras.backend.clear_session()
    np.random.seed(0)
    return _train("inpainting", fashion_mnist_train)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_falls_and_features_do_not_collapse(name, fashion_mnist_train, request):
    chance = CASES[name][2]
    model, history = (request.getfixturevalue("trained_inpainting") if name == "inpainting"
                      else _train(name, fashion_mnist_train))
    loss, spread = history["loss"], history["embedding_std"]
    assert loss[-1] < 0.7 * loss[0], loss
    if chance is not None:
        assert loss[-1] < chance - 0.5, loss
    assert spread[-1] > 0.5 / np.sqrt(model.feature_dim), spread


@pytest.mark.slow  # trains the module's inpainting model (about 19 s) when it runs alone
def test_inpainting_beats_filling_the_hole_with_the_mean_image(fashion_mnist_train,
                                                               trained_inpainting):
    images = fashion_mnist_train[0][:1024]
    model, _ = trained_inpainting
    test = fashion_mnist_train[0][1024:1536].astype(np.float32) / 255.0
    mask = model.masks(len(test)).numpy()
    # batch statistics (training=True): after 128 steps the BN moving averages
    # (momentum 0.99) are still 28 % their initial values
    hidden = test * (1 - mask) + 0.5 * mask
    predicted = model.decoder(model.encoder(hidden, training=True), training=True).numpy()
    mean_image = images.astype(np.float32).mean(axis=0) / 255.0
    model_error = np.sum((predicted - test) ** 2 * mask) / mask.sum()
    mean_error = np.sum((mean_image - test) ** 2 * mask) / mask.sum()
    assert model_error < 0.8 * mean_error, (model_error, mean_error)


def test_random_region_masks_are_squares_of_the_requested_size():
    model = models.Inpainting(small_cnn(), mask_fraction=0.25, region="random")
    masks = model.masks(64).numpy()[..., 0]
    assert np.all(masks.sum(axis=(1, 2)) == 7 * 7)
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    assert np.all(rows.sum(axis=1) == 7) and np.all(cols.sum(axis=1) == 7)
    assert len({tuple(np.argwhere(m)[0]) for m in masks}) > 10  # positions vary


def test_colorization_refuses_grayscale_views(fashion_mnist_train):
    model = models.Colorization(small_cnn())
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="needs RGB views.*no colour to predict"):
        model.fit(_views(fashion_mnist_train[0][:128]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="lightness channel"):
        models.Colorization(small_cnn((28, 28, 3)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(name, tmp_path, fashion_mnist_train):
    model = CASES[name][0]()
    model.compile(optimizer=CASES[name][1]())
    model.fit(_views(_images(name, fashion_mnist_train)[:64]), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / f"{name}.keras"),
                                 fashion_mnist_train[0][:4])
    for field in model.config_fields:
        assert getattr(restored, field) == getattr(model, field)


class _ContentJigsaw(models.Jigsaw):
    """Jigsaw whose permutation per image follows from its pixels, not from a random
    draw, so that a step on 2 replicas and on 1 see the same labels."""

    def permutation_labels(self, images):
        sums = tf.reduce_sum(tf.cast(images, tf.float32), axis=[1, 2, 3])
        return tf.cast(sums * 64.0, tf.int32) % self.num_permutations


REPLICA_CASES = {  # name: (model of a sync-BN encoder, image size)
    "rotation": (lambda encoder: models.RotationPrediction(encoder), 12),
    "jigsaw": (lambda encoder: _ContentJigsaw(encoder, num_permutations=8, jitter=0,
                                              hidden_dim=16), 24),
    "inpainting": (lambda encoder: models.Inpainting(encoder, region="center"), 12),
    "colorization": (lambda encoder: models.Colorization(encoder), 12),
}


@pytest.mark.parametrize("name", sorted(REPLICA_CASES))
def test_two_replica_step_equals_one_replica_step(name, fashion_mnist_train, two_replicas):
    """Loss and every weight after one step agree in float32 (``replica_tolerance``;
    sync BN).  The steps' own random draws are fixed: centre masks, jigsaw
    permutations from the pixels, no tile jitter."""
    make, size = REPLICA_CASES[name]
    start = 14 - size // 2
    images = fashion_mnist_train[0][:16, start:start + size, start:start + size]
    views = fixed_views(images, 0)
    if name == "colorization":
        views["global"] = tuple(np.repeat(v, 3, axis=-1) * PALETTE[3]
                                for v in views["global"])
    dataset = tf.data.Dataset.from_tensors(views)
    encoder_input = (None, None, 1) if name == "jigsaw" else (size, size, 1)

    def build():
        model = make(sync_bn_encoder(encoder_input))
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return model

    single, _, start_weights = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    moved = sum(not np.allclose(a, b) for a, b in zip(single.get_weights(), start_weights))
    assert moved > len(start_weights) // 2
