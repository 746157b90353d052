"""The small ViT: CLS output, resized position embeddings for other grids, round trip."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import backbones
from keras_contrastive.backbones.vit import ClassTokenPositionEmbedding


def test_vit_tiny_has_deit_tiny_size():
    encoder = backbones.vit_tiny((32, 32, 3), patch_size=8)
    assert encoder.output_shape == (None, 192)
    blocks = {layer.name.split("_")[0] for layer in encoder.layers if layer.name.startswith("block")}
    assert len(blocks) == 12


def test_tokens_are_cls_then_patches_with_positions():
    layer = ClassTokenPositionEmbedding(grid=2)
    patches = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3)
    tokens = layer(patches).numpy()
    position = layer.position.numpy()[0]
    np.testing.assert_allclose(tokens[:, 0], np.tile(layer.cls_token.numpy()[0, 0] + position[0],
                                                     (2, 1)), rtol=1e-6)
    np.testing.assert_allclose(tokens[:, 1:], patches.reshape(2, 4, 3) + position[1:], rtol=1e-6)


def test_other_grids_get_resized_position_embeddings():
    layer = ClassTokenPositionEmbedding(grid=4)
    layer.build((None, 4, 4, 2))
    layer.position.assign(np.random.default_rng(0).normal(size=(1, 17, 2)))
    small = layer(np.zeros((1, 2, 2, 2), "float32")).numpy()
    grid = layer.position.numpy()[0, 1:].reshape(1, 4, 4, 2)
    expected = tf.image.resize(grid, (2, 2), method="bicubic").numpy().reshape(4, 2)
    np.testing.assert_allclose(small[0, 1:], expected, rtol=1e-5, atol=1e-6)


def test_local_crops_and_round_trip(tmp_path):
    encoder = backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=1, num_heads=2)
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    assert encoder(x[:, :14, :14]).shape == (2, 16)
    path = str(tmp_path / "vit.keras")
    encoder.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x), encoder(x), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (30, 30, 1), "patch_size": 7}, "multiple of patch_size"),
    ({"input_shape": (28, 28, 1), "patch_size": 7, "dim": 10, "num_heads": 3}, "num_heads"),
])
def test_bad_shapes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        backbones.vit(**kwargs)
