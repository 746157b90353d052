"""The small CNN: its layers, feature size, arguments and a save/load round trip; as the
named backbone ``--backbone small_cnn`` (width, 2x, 4x channels; batch norms synchronised
exactly when a strategy of several replicas is in scope, as the ResNets')."""
import keras
import numpy as np
import pytest

from keras_contrastive import backbones
from keras_contrastive.pretraining import PretrainConfig, build_backbone


def test_blocks_parameters_and_round_trip(tmp_path):
    encoder = backbones.small_cnn((28, 28, 1))
    kinds = [type(layer).__name__ for layer in encoder.layers[1:]]
    assert kinds == ["Conv2D", "BatchNormalization", "ReLU"] * 3 + ["GlobalAveragePooling2D"]
    # 3x3 kernels without bias: 1*16*9 + 16*32*9 + 32*64*9, plus 4 BN values per channel
    assert encoder.count_params() == 144 + 4608 + 18432 + 4 * (16 + 32 + 64)
    assert encoder.output_shape == (None, 64)
    plain = backbones.small_cnn((32, 32, 3), filters=(8, 16), strides=(2, 2), batch_norm=False,
                                pooling="max")
    assert [type(layer).__name__ for layer in plain.layers[1:]] == [
        "Conv2D", "Conv2D", "GlobalMaxPooling2D"]
    assert plain.count_params() == (3 * 8 * 9 + 8) + (8 * 16 * 9 + 16)
    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    encoder.save(tmp_path / "cnn.keras")
    restored = keras.saving.load_model(tmp_path / "cnn.keras")
    np.testing.assert_allclose(restored(images).numpy(), encoder(images).numpy(), rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"filters": (8, 16), "strides": (1,)}, "same length"),
    ({"filters": (), "strides": ()}, "non-empty"),
    ({"pooling": "mean"}, "pooling"),
])
def test_bad_arguments_are_rejected_with_their_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        backbones.small_cnn((28, 28, 1), **kwargs)


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def test_the_config_builds_width_2x_4x_channels_with_local_batch_norm_on_one_replica():
    encoder = build_backbone(PretrainConfig(backbone="small_cnn", width=8), (28, 28, 1))
    assert encoder.output_shape == (None, 32)
    convs = [layer.filters for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [8, 16, 32]
    assert [bn.synchronized for bn in _batch_norms(encoder)] == [False] * 3


def test_its_batch_norms_synchronise_under_two_replicas(two_replicas):
    with two_replicas.scope():
        encoder = build_backbone(PretrainConfig(backbone="small_cnn", width=4), (28, 28, 1))
    assert [bn.synchronized for bn in _batch_norms(encoder)] == [True] * 3
