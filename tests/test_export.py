"""Tests of keras_contrastive/export.py."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.evaluation import extract_features
from keras_contrastive.export import export_encoder, load_encoder
from tests.conftest import tiny_encoder

REPO_ROOT = Path(__file__).resolve().parents[1]


def train_briefly(encoder, images):
    """One fit step so BatchNormalization's moving statistics are not trivial."""
    model = keras.Sequential([encoder, keras.layers.Dense(4)])
    model.compile("sgd", "mse")
    model.fit(images / 255.0, np.zeros((len(images), 4), "float32"), batch_size=32, epochs=1, verbose=0)
    return encoder


class HasEncoder:
    def __init__(self, encoder):
        self.encoder = encoder


@pytest.fixture
def images(fashion_mnist_test):
    return fashion_mnist_test[0][:64]


def embed(encoder, images):
    return extract_features(encoder, (images, np.zeros(len(images), np.int64)))[0]


def test_saved_model_cli_lists_serving_default_images_to_embedding(images, tmp_path):
    version_dir = export_encoder(train_briefly(tiny_encoder(), images), tmp_path / "enc", version=3)
    assert version_dir == str(tmp_path / "enc" / "3")
    cli = Path(sys.executable).with_name("saved_model_cli")
    result = subprocess.run(
        [str(cli), "show", "--dir", version_dir, "--all"], capture_output=True, text=True, check=True
    )
    assert "signature_def['serving_default']" in result.stdout
    assert "inputs['images']" in result.stdout
    assert "outputs['embedding']" in result.stdout
    assert "shape: (-1, 28, 28, 1)" in result.stdout and "shape: (-1, 16)" in result.stdout
    assert sorted(os.listdir(tmp_path / "enc")) == ["3"]  # no staging leftovers


def test_reload_in_fresh_process_matches_in_memory_embeddings(images, tmp_path):
    encoder = train_briefly(tiny_encoder(), images)
    base = tmp_path / "servable"
    export_encoder(HasEncoder(encoder), base)
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        from keras_contrastive.export import load_encoder
        images = np.load({str(tmp_path / "images.npy")!r}).astype("float32") / 255.0
        encoder = load_encoder({str(base)!r})
        np.save({str(tmp_path / "keras.npy")!r}, np.asarray(encoder(images)))
        signature = tf.saved_model.load({str(base / "1")!r}).signatures["serving_default"]
        np.save({str(tmp_path / "serving.npy")!r}, signature(images=tf.constant(images))["embedding"].numpy())
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    expected = embed(encoder, images)
    for name in ("keras.npy", "serving.npy"):
        reloaded = np.load(tmp_path / name)
        assert reloaded.shape == expected.shape == (64, 16)
        assert np.max(np.abs(reloaded - expected)) < 1e-5


def test_existing_version_is_refused_unless_overwrite(images, tmp_path):
    first = tiny_encoder()
    version_dir = export_encoder(first, tmp_path)
    with pytest.raises(FileExistsError, match=str(tmp_path / "1")):
        export_encoder(first, tmp_path)
    second = train_briefly(tiny_encoder(), images)
    assert export_encoder(second, tmp_path, overwrite=True) == version_dir
    np.testing.assert_allclose(embed(load_encoder(tmp_path), images), embed(second, images), atol=1e-5)


def test_export_of_model_built_under_mirrored_strategy(images, tmp_path, two_replicas):
    strategy = two_replicas
    with strategy.scope():
        encoder = tiny_encoder()
        model = keras.Sequential([encoder, keras.layers.Dense(4)])
        model.compile("sgd", "mse")
    assert isinstance(encoder.weights[0].value, tf.distribute.DistributedValues)
    model.fit(images / 255.0, np.zeros((len(images), 4), "float32"), batch_size=32, epochs=1, verbose=0)
    with strategy.scope():  # exporting inside the scope works as well as outside
        inside = export_encoder(HasEncoder(encoder), tmp_path / "inside")
    outside = export_encoder(encoder, tmp_path / "outside")
    expected = embed(encoder, images)
    for version_dir in (inside, outside):
        np.testing.assert_allclose(embed(load_encoder(version_dir), images), expected, atol=1e-5)


def test_load_encoder_picks_highest_version_and_trains_as_a_layer(fashion_mnist_train, tmp_path):
    x, y = fashion_mnist_train[0][:64], fashion_mnist_train[1][:64]
    export_encoder(tiny_encoder(), tmp_path, version=2)
    newest = train_briefly(tiny_encoder(), x)
    export_encoder(newest, tmp_path, version=10)
    os.makedirs(tmp_path / "not_a_version")
    encoder = load_encoder(tmp_path)
    np.testing.assert_allclose(embed(encoder, x), embed(newest, x), atol=1e-5)

    inputs = keras.Input((28, 28, 1))
    classifier = keras.Model(inputs, keras.layers.Dense(10)(encoder(inputs)))
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    frozen = [w.numpy().copy() for w in encoder.weights]
    assert encoder.weights and not encoder.trainable_weights
    history = classifier.fit(x / 255.0, y, batch_size=32, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for before, after in zip(frozen, encoder.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_trainable_load_is_fine_tuned_by_fit(images, tmp_path):
    export_encoder(tiny_encoder(), tmp_path)
    encoder = load_encoder(tmp_path, trainable=True)
    assert encoder.trainable_weights
    model = keras.Sequential([encoder, keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    before = embed(encoder, images)
    model.fit(images / 255.0, np.ones((64, 2), "float32"), batch_size=32, epochs=1, verbose=0)
    assert np.max(np.abs(embed(encoder, images) - before)) > 1e-6


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="model_or_encoder"):
        export_encoder(object(), tmp_path)
    with pytest.raises(ValueError, match="version=-1"):
        export_encoder(tiny_encoder(), tmp_path, version=-1)
    spatial = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        export_encoder(spatial, tmp_path)
    with pytest.raises(FileNotFoundError, match="No exported encoder"):
        load_encoder(tmp_path)
