"""keras-hub backbones (ViT, DINOv2, ResNet), built from config with random weights (no
download), wrapped by as_encoder: pooled features, spatial features, shared weights.

keras-hub is the optional ``hub`` extra, not in the ``test`` extra (it pulls tensorflow-text,
about 60 MB): without it these tests are skipped."""
import keras
import numpy as np
import pytest

from keras_contrastive import backbones
from keras_contrastive.backbones import SpatialLayout

keras_hub = pytest.importorskip("keras_hub")


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


def _vit(use_class_token=True):
    return keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
        mlp_dim=32, use_class_token=use_class_token)


def _dinov2():
    return keras_hub.models.DINOV2Backbone(
        patch_size=8, num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32,
        num_register_tokens=2, image_shape=(32, 32, 3))


def _check_shared(encoder, backbone, expected_spatial):
    """Changing one backbone weight changes the encoder's spatial features as the backbone's."""
    x = _images()
    spatial = backbones.spatial_encoder(encoder)
    before = spatial(x).numpy()
    kernel = next(w for w in backbone.trainable_weights if len(w.shape) == 4)
    kernel.assign(kernel * 2.0 + 0.1)
    after = spatial(x).numpy()
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, expected_spatial(backbone(x).numpy()), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build, prefix, pooling", [
    (_vit, 1, "class_token"),               # CLS + 16 patches
    (lambda: _vit(False), 0, "mean"),       # 16 patches, pooled by their mean
    (_dinov2, 3, "class_token"),            # CLS + 2 registers + 16 patches
])
def test_token_backbones_give_the_cls_token_and_the_patch_tokens(build, prefix, pooling):
    keras.utils.set_random_seed(0)
    backbone = build()
    encoder = backbones.as_encoder(backbone)  # prefix found from patch_size and image_shape
    x = _images()
    tokens = backbone(x).numpy()
    assert tokens.shape == (2, prefix + 16, 16)
    pooled = encoder(x).numpy()
    assert pooled.shape == (2, 16)
    np.testing.assert_allclose(pooled, tokens[:, 0] if prefix else tokens.mean(axis=1),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(backbones.spatial_encoder(encoder)(x).numpy(), tokens[:, prefix:],
                               rtol=1e-4, atol=1e-5)
    assert backbones.spatial_layout(encoder) == SpatialLayout("tokens", (4, 4), 16, pooling)
    _check_shared(encoder, backbone, lambda t: t[:, prefix:])


def test_resnet_backbone_gives_its_last_feature_map():
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(32, 32, 3))
    encoder = backbones.as_encoder(backbone)
    x = _images()
    maps = backbone(x).numpy()
    assert maps.shape == (2, 4, 4, 32)
    np.testing.assert_allclose(encoder(x).numpy(), maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    assert backbones.spatial_layout(encoder) == SpatialLayout("feature_map", (4, 4), 32, "mean")
    _check_shared(encoder, backbone, lambda t: t)


def test_a_wrapped_dinov2_round_trips_through_a_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    encoder = backbones.as_encoder(_dinov2())
    encoder.save(tmp_path / "dinov2.keras")
    restored = keras.saving.load_model(tmp_path / "dinov2.keras")
    x = _images()
    np.testing.assert_allclose(restored(x).numpy(), encoder(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backbones.spatial_encoder(restored)(x).numpy(),
                               backbones.spatial_encoder(encoder)(x).numpy(), rtol=1e-5, atol=1e-6)


def test_a_saved_keras_hub_preset_is_a_pretraining_backbone(tmp_path):
    """``PretrainConfig(backbone="keras_hub:DIR")`` (``--backbone``) loads a preset
    saved to a folder (no download) with its weights, wrapped by as_encoder; views
    of another shape are refused, naming the preset's."""
    from keras_contrastive.pretraining import PretrainConfig, build_backbone

    vit = _vit()
    vit.save_to_preset(str(tmp_path / "tiny_vit"))
    config = PretrainConfig(backbone=f"keras_hub:{tmp_path / 'tiny_vit'}")
    encoder = build_backbone(config, (32, 32, 3))
    x = _images()
    np.testing.assert_allclose(encoder(x).numpy(), vit(x).numpy()[:, 0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError,
                       match=r"takes images \(32, 32, 3\); the views are \(28, 28, 1\)"):
        build_backbone(config, (28, 28, 1))
