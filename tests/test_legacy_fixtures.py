"""Models saved by an earlier version still load and compute the same features.

``tests/fixtures/legacy/`` was written by ``tests/fixtures/make_legacy_fixtures.py``
on the commit its README names (main before the redesign of issue 27): tiny
SimCLR, MoCo v2 (queue + momentum encoder), DINO, CPC and Colorization models
trained two steps on Fashion-MNIST, saved as ``.keras``, and one SavedModel
export.  Loading them with today's code must give the recorded numbers.
"""
import os

import keras
import numpy as np
import pytest

from keras_contrastive import export, models  # noqa: F401  (models: registers the classes)

LEGACY = os.path.join(os.path.dirname(__file__), "fixtures", "legacy")
MODELS = ("simclr", "moco_v2", "dino", "cpc", "colorization")


@pytest.fixture(scope="module")
def recorded():
    with np.load(os.path.join(LEGACY, "features.npz")) as data:
        return dict(data)


@pytest.mark.parametrize("name", MODELS)
def test_legacy_keras_file_loads_with_its_state_and_features(name, recorded):
    model = keras.saving.load_model(os.path.join(LEGACY, f"{name}.keras"))
    # every variable (queues, momentum targets, centers, BN statistics) restored
    # (random seed states are left out: they move whenever a layer draws)
    variables = [v for v in model.variables if "seed_generator" not in v.path]
    shapes = [str(tuple(v.shape)) for v in variables]
    assert shapes == [str(s) for s in recorded[f"{name}/variable_shapes"]]
    sums = [float(np.abs(np.asarray(v.numpy(), np.float64)).sum()) for v in variables]
    np.testing.assert_allclose(sums, recorded[f"{name}/variable_sums"], rtol=1e-6)
    np.testing.assert_allclose(
        model.encoder(recorded[f"{name}/encoder_inputs"], training=False),
        recorded[f"{name}/encoder_outputs"], atol=1e-5)
    images = recorded[f"{name}/images"]
    # the representation of images: the encoder's output on what it was trained
    # to read (CPC: the grid mean of its patches; Colorization: L / 100)
    expected = recorded.get(f"{name}/features", recorded[f"{name}/encoder_outputs"])
    features = model.feature_extractor(images.shape[1:])(images, training=False)
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_legacy_saved_model_loads_and_serves_the_recorded_embedding(recorded):
    served = export.load_encoder(os.path.join(LEGACY, "saved_model"))
    np.testing.assert_allclose(served(recorded["saved_model/images"]),
                               recorded["saved_model/embedding"], atol=1e-5)
    assert export.read_metadata(os.path.join(LEGACY, "saved_model"))["method"] == "SimCLR"
