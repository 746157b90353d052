"""One representation contract: ``model.feature_extractor`` is what export,
evaluation and the CLI call an image's features, input transforms included."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, evaluation, export, models
from keras_contrastive.data import load_tinted_fashion_mnist_arrays
from keras_contrastive.views import pretext


def _fit_two_steps(model, images):
    x = images.astype("float32") / 255.0
    views = tf.data.Dataset.from_tensor_slices({"global": (x, x[:, :, ::-1])}).batch(
        16, drop_remainder=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(views, epochs=1, verbose=0)
    return model


def test_colorization_export_serves_the_encoder_of_the_rgb_images_lightness(tmp_path):
    """Colorization's encoder was trained on L / 100 of RGB images: its
    SavedModel takes RGB images (float and uint8) and computes that inside."""
    images, _ = load_tinted_fashion_mnist_arrays("train")
    model = _fit_two_steps(models.Colorization(backbones.small_cnn((28, 28, 1))), images[:32])
    export.export_encoder(model, tmp_path)
    served = tf.saved_model.load(str(tmp_path / "1"))
    rgb_uint8 = load_tinted_fashion_mnist_arrays("test")[0][:8]
    rgb = rgb_uint8.astype("float32") / 255.0
    expected = model.encoder(pretext.rgb_to_lab(rgb)[..., :1] / 100.0, training=False)
    assert export.read_metadata(tmp_path)["input_shape"] == [28, 28, 3]
    np.testing.assert_allclose(served.signatures["serving_default"](images=rgb)["embedding"],
                               expected, atol=1e-5)
    np.testing.assert_allclose(
        served.signatures["serve_uint8"](images=tf.constant(rgb_uint8))["embedding"],
        expected, atol=1e-5)
    # the same through the loader and the evaluation's feature extraction
    np.testing.assert_allclose(export.load_encoder(tmp_path)(rgb), expected, atol=1e-5)
    features, _ = evaluation.extract_features(model.feature_extractor(),
                                              (rgb_uint8, np.zeros(8, np.int64)))
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_cli_evaluate_of_a_cpc_keras_file_reads_the_grid_mean(tmp_path, fashion_mnist_train,
                                                              fashion_mnist_test):
    """`keras-contrastive evaluate model.keras` on CPC evaluates the mean of
    the patch grid (the paper's representation), not the bare patch encoder
    run on whole images."""
    model = models.CPC(backbones.small_cnn((None, None, 1)), grid=7, patch_size=6,
                       prediction_steps=2)
    _fit_two_steps(model, fashion_mnist_train[0][:32])
    path = str(tmp_path / "cpc.keras")
    model.save(path)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "keras_contrastive", "evaluate", path, "--protocols", "knn",
         "--train-subset", "300", "--test-subset", "100", "--knn-k", "5", "--json"],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    train = tuple(a[:300] for a in fashion_mnist_train)
    test = tuple(a[:100] for a in fashion_mnist_test)
    grid_mean = evaluation.evaluate_encoder(model.feature_extractor(), train, test, ["knn"],
                                            knn_k=5)["knn_acc"]
    patch_encoder = evaluation.evaluate_encoder(model.encoder, train, test, ["knn"],
                                                knn_k=5)["knn_acc"]
    assert grid_mean != patch_encoder  # the test tells the two apart
    assert figures["knn_acc"] == grid_mean
