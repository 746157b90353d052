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

from keras_contrastive.data.preprocess import resize_uint8
from keras_contrastive.evaluation import extract_features
from keras_contrastive.export import export_encoder, export_tflite, load_encoder
from tests.conftest import tflite_embeddings, tiny_encoder

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


def test_saved_model_cli_lists_the_three_signatures(images, tmp_path):
    version_dir = export_encoder(train_briefly(tiny_encoder(), images), tmp_path / "enc", version=3)
    assert version_dir == str(tmp_path / "enc" / "3")
    cli = Path(sys.executable).with_name("saved_model_cli")
    result = subprocess.run(
        [str(cli), "show", "--dir", version_dir, "--all"], capture_output=True, text=True, check=True
    )
    signatures = {}
    for block in result.stdout.split("signature_def[")[1:]:
        signatures[block.split("'")[1]] = block
    assert {"serving_default", "serve_uint8", "serve_bytes"} <= set(signatures)
    expected_inputs = {
        "serving_default": ("inputs['images']", "DT_FLOAT", "shape: (-1, 28, 28, 1)"),
        "serve_uint8": ("inputs['images']", "DT_UINT8", "shape: (-1, -1, -1, -1)"),  # any channels
        "serve_bytes": ("inputs['image_bytes']", "DT_STRING", "shape: (-1)"),
    }
    for name, (input_name, dtype, shape) in expected_inputs.items():
        block = signatures[name]
        inputs, outputs = block.split("The given SavedModel SignatureDef contains the following "
                                      "output(s):")
        assert input_name in inputs and dtype in inputs and shape in inputs, block
        assert "outputs['embedding']" in outputs and "DT_FLOAT" in outputs, block
        assert "shape: (-1, 16)" in outputs, block
    assert sorted(os.listdir(tmp_path / "enc")) == ["3"]  # no staging leftovers
    assert sorted(os.listdir(version_dir)) == ["assets", "fingerprint.pb", "metadata.json",
                                               "saved_model.pb", "variables"]


def test_each_signature_in_a_fresh_process_matches_in_memory_embeddings(images, tmp_path):
    encoder = train_briefly(tiny_encoder(), images)
    base = tmp_path / "servable"
    export_encoder(HasEncoder(encoder), base)
    np.save(tmp_path / "images.npy", images)
    png = [tf.io.encode_png(image).numpy() for image in images]
    jpeg = [tf.io.encode_jpeg(image, quality=95).numpy() for image in images]
    np.save(tmp_path / "png.npy", np.array(png, dtype=object), allow_pickle=True)
    np.save(tmp_path / "jpeg.npy", np.array(jpeg, dtype=object), allow_pickle=True)
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        from keras_contrastive.export import load_encoder
        out = {str(tmp_path)!r}
        images = np.load(out + "/images.npy")
        encoder = load_encoder({str(base)!r})
        np.save(out + "/keras.npy", np.asarray(encoder(images.astype("float32") / 255.0)))
        signatures = tf.saved_model.load({str(base / "1")!r}).signatures
        calls = {{
            "serving_default": dict(images=tf.constant(images.astype("float32") / 255.0)),
            "serve_uint8": dict(images=tf.constant(images)),
            "serve_bytes_png": dict(image_bytes=tf.constant(list(np.load(out + "/png.npy", allow_pickle=True)))),
            "serve_bytes_jpeg": dict(image_bytes=tf.constant(list(np.load(out + "/jpeg.npy", allow_pickle=True)))),
        }}
        for name, inputs in calls.items():
            signature = signatures[name.replace("_png", "").replace("_jpeg", "")]
            np.save(out + "/" + name + ".npy", signature(**inputs)["embedding"].numpy())
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    expected = embed(encoder, images)
    for name in ("keras", "serving_default", "serve_uint8", "serve_bytes_png"):
        reloaded = np.load(tmp_path / f"{name}.npy")
        assert reloaded.shape == expected.shape == (64, 16), name
        assert np.max(np.abs(reloaded - expected)) < 1e-5, name
    # JPEG is lossy: the served embeddings are those of the decoded pixels...
    decoded = np.stack([tf.io.decode_jpeg(data).numpy() for data in jpeg])
    from_jpeg = np.load(tmp_path / "serve_bytes_jpeg.npy")
    assert np.max(np.abs(from_jpeg - embed(encoder, decoded))) < 1e-5
    # ...and at quality 95 (1.8 grey levels off on average here) they keep the
    # direction of the originals' embeddings
    cosine = np.sum(from_jpeg * expected, 1) / np.linalg.norm(from_jpeg, axis=1) / np.linalg.norm(
        expected, axis=1)
    assert cosine.min() > 0.99


def test_uint8_and_bytes_of_another_size_are_resized_in_the_graph(images, tmp_path):
    encoder = train_briefly(tiny_encoder(), images)
    signatures = tf.saved_model.load(export_encoder(encoder, tmp_path)).signatures
    large = tf.image.resize(images[:8], (56, 42), method="nearest").numpy().astype("uint8")
    # resized as the loaders resize (bilinear, antialiased, rounded to uint8)
    expected = embed(encoder, resize_uint8(large, (28, 28)).numpy())
    served = signatures["serve_uint8"](images=tf.constant(large))["embedding"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    png = tf.constant([tf.io.encode_png(image).numpy() for image in large])
    np.testing.assert_allclose(signatures["serve_bytes"](image_bytes=png)["embedding"].numpy(),
                               expected, atol=1e-5)
    # an RGB picture is converted to the encoder's one channel
    rgb = tf.constant([tf.io.encode_png(np.repeat(large[0], 3, axis=-1)).numpy()])
    np.testing.assert_allclose(signatures["serve_bytes"](image_bytes=rgb)["embedding"].numpy(),
                               expected[:1], atol=1e-5)


def test_served_and_training_pipeline_embeddings_of_the_same_files_agree(tmp_path):
    """Train/serve parity: image files of sizes that need resizing (RGB, grey, RGBA
    PNGs and a JPEG), read by the folder loader of pretraining and evaluation
    (``open_split(...).arrays()`` then ``extract_features``) and sent as bytes to the
    exported ``serve_bytes`` (and as pixels to ``serve_uint8``), give the same
    embeddings: one preprocessing (``data.preprocess``) for both."""
    from PIL import Image

    from keras_contrastive.pretraining import open_split

    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    pictures = {"a.png": rng.integers(0, 256, (40, 30, 3)), "b.png": rng.integers(0, 256, (9, 50)),
                "c.png": rng.integers(0, 256, (33, 17, 4)), "d.jpg": rng.integers(0, 256, (48, 64, 3))}
    for name, pixels in pictures.items():
        Image.fromarray(pixels.astype(np.uint8)).save(folder / name, quality=90)
    encoder = keras.Sequential([keras.Input((16, 24, 3)), keras.layers.Conv2D(8, 3),
                                keras.layers.Activation("relu"),
                                keras.layers.GlobalAveragePooling2D()])
    split = open_split(str(folder), "train", image_size=(16, 24))
    loaded, labels = split.arrays()
    assert labels is None and loaded.shape == (4, 16, 24, 3)
    trained_on, no_labels = extract_features(encoder, loaded)
    assert no_labels is None
    streamed, no_labels = extract_features(encoder, split.open(None, False, None))  # tf.data
    assert no_labels is None and np.array_equal(streamed, trained_on)
    signatures = tf.saved_model.load(export_encoder(encoder, tmp_path / "export")).signatures
    files = [(folder / name).read_bytes() for name in sorted(pictures)]
    served = signatures["serve_bytes"](image_bytes=tf.constant(files))["embedding"].numpy()
    np.testing.assert_allclose(served, trained_on, atol=1e-5)
    decoded = tf.io.decode_image(files[0], expand_animations=False)[None]
    from_pixels = signatures["serve_uint8"](images=decoded)["embedding"].numpy()
    np.testing.assert_allclose(from_pixels, trained_on[:1], atol=1e-5)
    # the check can fail: the resize of the old folder loader (no antialiasing) differs
    unaliased = tf.cast(tf.round(tf.image.resize(tf.cast(decoded, tf.float32), (16, 24))),
                        tf.uint8)
    assert np.abs(embed(encoder, unaliased.numpy()) - trained_on[:1]).max() > 1e-4


def test_the_tflite_encoder_gives_the_keras_and_served_embeddings_of_real_images(images,
                                                                                  tmp_path):
    """``export_tflite``: the LiteRT interpreter's embeddings of 64 Fashion-MNIST test
    images equal the Keras encoder's (inference mode: BatchNormalization's moving
    statistics, not trivial after a step) and the SavedModel's ``serving_default``
    to 1e-5; an existing file is refused unless ``overwrite``, as is an encoder
    without [B, D] embeddings."""
    encoder = train_briefly(tiny_encoder(), images)
    x = images.astype("float32") / 255.0
    path = export_tflite(HasEncoder(encoder), tmp_path / "deep" / "encoder.tflite")
    assert path == str(tmp_path / "deep" / "encoder.tflite")
    lite = tflite_embeddings(path, x)
    keras_embeddings = encoder(x, training=False).numpy()
    assert lite.shape == (64, 16) and np.abs(keras_embeddings).max() > 0.05
    np.testing.assert_allclose(lite, keras_embeddings, atol=1e-5)
    served = tf.saved_model.load(export_encoder(encoder, tmp_path / "served"))
    np.testing.assert_allclose(
        lite, served.signatures["serving_default"](images=tf.constant(x))["embedding"],
        atol=1e-5)
    np.testing.assert_allclose(tflite_embeddings(path, x[:1]), lite[:1], atol=1e-5)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        export_tflite(encoder, path)
    export_tflite(tiny_encoder(), path, overwrite=True)  # another encoder's weights
    assert np.abs(tflite_embeddings(path, x) - lite).max() > 1e-3
    spatial = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        export_tflite(spatial, tmp_path / "spatial.tflite")
    assert sorted(os.listdir(tmp_path / "deep")) == ["encoder.tflite"]  # no staging file left


def test_bytes_that_are_not_an_image_are_refused_with_a_message(images, tmp_path):
    signatures = tf.saved_model.load(export_encoder(tiny_encoder(), tmp_path)).signatures
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"could not be decoded \(not JPEG, PNG, GIF, BMP or WebP.*\] \[0\]"):
        signatures["serve_bytes"](image_bytes=tf.constant([b"not an image at all"]))


def test_projection_output_and_metadata(fashion_mnist_train, tmp_path):
    from keras_contrastive import models
    from keras_contrastive.export import read_metadata

    model = models.SimCLR(tiny_encoder(), projection_dim=8, hidden_dim=16)
    path = export_encoder(model, tmp_path, include_projection=True, metadata={
        "training_data": "fashion_mnist[:64]", "metrics": {"knn_acc": np.float32(0.5)}})
    x = fashion_mnist_train[0][:8].astype("float32") / 255.0
    outputs = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(outputs["embedding"], model.encoder(x), atol=1e-5)
    np.testing.assert_allclose(outputs["projection"], model.projector(model.encoder(x)), atol=1e-5)
    metadata = read_metadata(tmp_path)
    assert metadata["method"] == "SimCLR" and metadata["input_shape"] == [28, 28, 1]
    assert metadata["embedding_dim"] == 16 and metadata["projection_dim"] == 8
    assert metadata["outputs"] == ["embedding", "projection"]
    assert metadata["training_data"] == "fashion_mnist[:64]"
    assert metadata["metrics"] == {"knn_acc": 0.5}
    assert metadata["preprocessing"]["scale"] == 1 / 255
    commit = metadata["git_commit"]
    assert commit is None or len(commit.split("+")[0]) == 40
    with pytest.raises(ValueError, match="include_projection=True needs a model with a "
                                         "`projector`"):
        export_encoder(tiny_encoder(), tmp_path / "x", include_projection=True)
    with pytest.raises(TypeError, match="JSON cannot store"):
        export_encoder(tiny_encoder(), tmp_path / "y", metadata={"bad": object()})
    assert not (tmp_path / "y").exists()


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


def test_fine_tuning_an_exported_encoder_on_10_percent_of_labels_beats_the_frozen_probe(
        tmp_path):
    from keras_contrastive.data import load_fashion_mnist_arrays
    from keras_contrastive.evaluation import label_fraction_subset

    x, y = load_fashion_mnist_arrays("train")
    subset = label_fraction_subset(y, 0.1, seed=0)  # 6,000 images, 600 per class
    x_train, y_train = x[subset].astype("float32") / 255.0, y[subset]
    x_test, y_test = load_fashion_mnist_arrays("test")
    x_test, y_test = x_test[:2000].astype("float32") / 255.0, y_test[:2000]
    export_encoder(train_briefly(tiny_encoder(), x[:256]), tmp_path)

    def train_head_on(encoder):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((28, 28, 1))
        # features standardised in the head (BN without affine, as MAE's linear probe)
        features = keras.layers.BatchNormalization(center=False, scale=False)(encoder(inputs))
        classifier = keras.Model(inputs, keras.layers.Dense(10)(features))
        classifier.compile(keras.optimizers.Adam(3e-3),
                           keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"])
        classifier.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
        return classifier.evaluate(x_test, y_test, verbose=0)[1]

    frozen = load_encoder(tmp_path)
    assert not frozen.trainable_weights
    frozen_accuracy = train_head_on(frozen)

    tuned = load_encoder(tmp_path, trainable=True)
    # the convolutions' kernels and biases and BN's scale and offset (not its statistics)
    assert len(tuned.trainable_weights) == 6
    before = [w.numpy().copy() for w in tuned.trainable_weights]
    tuned_accuracy = train_head_on(tuned)
    for start, w in zip(before, tuned.trainable_weights):
        assert np.max(np.abs(w.numpy() - start)) > 1e-4, w.path
    assert tuned_accuracy > frozen_accuracy + 0.05, (tuned_accuracy, frozen_accuracy)


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
