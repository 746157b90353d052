"""CPC: the patch grid, a causal context network, learning on real images, 2 replicas."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, views
from keras_contrastive.models.cpc import patch_grid
from tests.conftest import (
    assert_round_trip, fit_on_one_and_two_replicas, fixed_views, small_cnn)


def test_patch_grid_cuts_overlapping_patches(fashion_mnist_train):
    images = fashion_mnist_train[0][:2].astype(np.float32)
    patches = patch_grid(images, grid=7, patch_size=6).numpy()
    # 7 patches of 6 px at stride 3 span 24 px, centred: offset 2
    for row, col in [(0, 0), (3, 5), (6, 6)]:
        top, left = 2 + 3 * row, 2 + 3 * col
        np.testing.assert_array_equal(patches[:, row, col], images[:, top:top + 6, left:left + 6])
    with pytest.raises(ValueError, match="spans 32 px"):
        patch_grid(images, grid=7, patch_size=8)


@pytest.mark.parametrize("context", ["gru", "masked_conv"])
def test_context_at_a_row_ignores_the_rows_below(context):
    model = models.CPC(small_cnn((None, None, 1)), grid=5, patch_size=4, context=context)
    z = np.random.default_rng(0).normal(size=(2, 5, 5, 64)).astype(np.float32)
    changed = z.copy()
    changed[:, 3:] += 10.0  # rows 3 and 4
    a, b = model.contexts(z).numpy(), model.contexts(changed).numpy()
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
    assert np.abs(a[:, 3:] - b[:, 3:]).max() > 1e-3


@pytest.mark.parametrize("context", ["gru", "masked_conv"])
def test_loss_falls_below_chance(context, fashion_mnist_train):
    images = fashion_mnist_train[0][:1024]
    keras.utils.set_random_seed(0)
    model = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2,
                       context=context)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    # reproducible batches (epochs, deterministic: see tests/conftest.py::crop_views)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images), lambda x: x,
                            batch_size=32, seed=0, epochs=6, deterministic=True)
    history = model.fit(data, epochs=6, steps_per_epoch=32, verbose=0).history  # 192 steps
    loss, spread = history["loss"], history["embedding_std"]
    chance = np.log(32 * 49)  # one true patch among the batch's 32 x 49
    assert loss[-1] < chance - 1.5 and loss[-1] < 0.8 * loss[0], loss
    assert spread[-1] > 0.5 / np.sqrt(model.feature_dim), spread


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    dataset = tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:8]))

    def build():
        encoder = keras.Sequential([keras.Input((None, None, 1)),
                                    keras.layers.Conv2D(8, 3, activation="relu"),
                                    keras.layers.GlobalAveragePooling2D()])
        model = models.CPC(encoder, grid=7, patch_size=6, prediction_steps=2)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return model

    single, _, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    for before, after, w in zip(start, single.get_weights(), single.weights):
        assert not np.allclose(after, before), w.path


def test_round_trip_and_bad_arguments(tmp_path, fashion_mnist_train):
    model = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, context="masked_conv")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:32])), epochs=1,
              verbose=0)
    restored = assert_round_trip(model, str(tmp_path / "cpc.keras"), fashion_mnist_train[0][:4])
    z = np.random.default_rng(0).normal(size=(1, 7, 7, 64)).astype(np.float32)
    np.testing.assert_allclose(restored.contexts(z), model.contexts(z), atol=1e-6)
    with pytest.raises(ValueError, match="context"):
        models.CPC(small_cnn((None, None, 1)), context="lstm")
    with pytest.raises(ValueError, match="prediction_steps"):
        models.CPC(small_cnn((None, None, 1)), grid=4, prediction_steps=4)


def test_feature_extractor_is_the_mean_of_the_patch_vectors(tmp_path, fashion_mnist_train):
    """The representation CPC's paper evaluates: each image's 7x7 grid of 6-px
    patches (stride 3, centred) through the patch encoder, averaged."""
    images = fashion_mnist_train[0][:3].astype(np.float32) / 255.0
    model = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2)
    with pytest.raises(ValueError, match="image_shape"):
        model.feature_extractor()  # untrained: the image size is not known yet
    extractor = model.feature_extractor((28, 28, 1))
    expected = []
    for image in images:  # slicing by hand, not through patch_grid
        patches = np.stack([image[2 + 3 * r:8 + 3 * r, 2 + 3 * c:8 + 3 * c]
                            for r in range(7) for c in range(7)])
        expected.append(model.encoder(patches).numpy().mean(axis=0))
    np.testing.assert_allclose(extractor(images).numpy(), np.stack(expected), atol=1e-5)
    # shares the encoder's weights, and round-trips through .keras
    path = str(tmp_path / "extractor.keras")
    extractor.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(images), extractor(images),
                               atol=1e-6)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:16])), epochs=1,
              verbose=0)
    assert model.feature_extractor().input_shape == (None, 28, 28, 1)  # the training size
    assert not np.allclose(extractor(images), np.stack(expected), atol=1e-5)  # trained weights


def test_export_serves_the_pooled_patch_grid(tmp_path, fashion_mnist_train):
    from keras_contrastive.export import export_encoder, load_encoder, read_metadata

    images = fashion_mnist_train[0][:16]
    model = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(tf.data.Dataset.from_tensors(fixed_views(images)), epochs=1, verbose=0)
    export_encoder(model, str(tmp_path))
    assert read_metadata(str(tmp_path))["input_shape"] == [28, 28, 1]
    assert read_metadata(str(tmp_path))["method"] == "CPC"
    served = load_encoder(str(tmp_path))(images[:4].astype(np.float32) / 255.0)
    expected = model.feature_extractor()(images[:4].astype(np.float32) / 255.0)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    # the training size is saved with the model: a reloaded model exports as it is
    model.save(str(tmp_path / "cpc.keras"))
    restored = keras.saving.load_model(str(tmp_path / "cpc.keras"))
    assert restored.image_shape == (28, 28, 1)
    export_encoder(restored, str(tmp_path / "reloaded"))
    served = load_encoder(str(tmp_path / "reloaded"))(images[:4].astype(np.float32) / 255.0)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    # a model that never trained and was not told the size: the export asks for it
    untrained = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2)
    with pytest.raises(ValueError, match="input_shape"):
        export_encoder(untrained, str(tmp_path / "untrained"))
    export_encoder(untrained, str(tmp_path / "untrained"), input_shape=(28, 28, 1))
    told = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2,
                      image_shape=(28, 28, 1))
    assert told.feature_extractor().input_shape == (None, 28, 28, 1)
    with pytest.raises(ValueError, match="image_shape"):
        models.CPC(small_cnn((None, None, 1)), image_shape=(28, 28))


def test_image_shape_is_checked_the_same_way_in_both_places():
    """The constructor and feature_extractor accept the same shapes (NumPy
    integers too, as an exported input shape may carry) and refuse the same
    ones, each with an error naming the argument."""
    shape = tuple(np.array([28, 28, 1]))  # NumPy int64s
    told = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2,
                      image_shape=shape)
    assert told.image_shape == (28, 28, 1) and all(type(d) is int for d in told.image_shape)
    assert told.get_config()["image_shape"] == (28, 28, 1)
    untrained = models.CPC(small_cnn((None, None, 1)), grid=7, patch_size=6, prediction_steps=2)
    assert untrained.feature_extractor(shape).input_shape == (None, 28, 28, 1)
    for bad in [(None, None, 1), (28, 28, None), (28, 28), (28, 0, 1), (28.0, 28, 1),
                (True, 28, 1), 28]:
        with pytest.raises(ValueError, match="image_shape"):
            models.CPC(small_cnn((None, None, 1)), image_shape=bad)
        with pytest.raises(ValueError, match="image_shape"):
            untrained.feature_extractor(bad)
