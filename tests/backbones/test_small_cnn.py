"""The small CNN: its layers, feature size, arguments and a save/load round trip."""
import keras
import numpy as np
import pytest

from keras_contrastive import backbones


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
