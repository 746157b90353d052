"""Encoders speak two shapes: every backbone's spatial features (feature map or patch tokens)
pool to its features, share its weights and have the layout spatial_layout says; a ViT's
stages run on a subset of its tokens."""
import keras
import numpy as np
import pytest

from keras_contrastive import backbones
from keras_contrastive.backbones import ClassTokenOutput, SpatialLayout


def _mobilenet(pooling):
    return backbones.as_encoder(keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, include_preprocessing=False,
        minimalistic=True, pooling=pooling))


ENCODERS = {  # name: (builder, feature map grid at 32x32, D, pooling)
    "resnet18": (lambda: backbones.resnet18((32, 32, 3), width=4), (4, 4), 32, "mean"),
    "resnet50": (lambda: backbones.resnet50((32, 32, 3), width=2, stem="cifar"), (4, 4), 64,
                 "mean"),
    "small_cnn_max": (lambda: backbones.small_cnn((32, 32, 3), filters=(8, 16), strides=(2, 2),
                                                  pooling="max"), (8, 8), 16, "max"),
    "application": (lambda: _mobilenet(None), (1, 1), 576, "mean"),
    "application_pooled": (lambda: _mobilenet("avg"), (1, 1), 576, "mean"),
}
_REDUCE = {"mean": np.mean, "max": np.max}


def _images(n=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, size, size, channels), dtype=np.float32)


def _first_kernel(model):
    return next(w for w in model.trainable_weights if len(w.shape) == 4)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_feature_maps_pool_to_the_encoders_features_and_share_its_weights(name):
    build, grid, dim, pooling = ENCODERS[name]
    keras.utils.set_random_seed(0)
    encoder = build()
    spatial = backbones.spatial_encoder(encoder)
    assert backbones.spatial_layout(encoder) == SpatialLayout("feature_map", grid, dim, pooling)
    x = _images()
    maps = spatial(x).numpy()
    assert maps.shape == (2, *grid, dim)
    np.testing.assert_allclose(_REDUCE[pooling](maps, axis=(1, 2)), encoder(x).numpy(),
                               rtol=1e-4, atol=1e-5)
    kernel = _first_kernel(encoder)  # one variable: changing it changes both models alike
    kernel.assign(kernel * 2.0 + 0.1)
    changed = spatial(x).numpy()
    assert not np.allclose(changed, maps)
    np.testing.assert_allclose(_REDUCE[pooling](changed, axis=(1, 2)), encoder(x).numpy(),
                               rtol=1e-4, atol=1e-5)
    assert {id(w) for w in spatial.weights} <= {id(w) for w in encoder.weights}


def test_application_pooled_by_itself_keeps_its_features():
    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, include_preprocessing=False,
        minimalistic=True, pooling="avg")
    x = _images()
    np.testing.assert_allclose(backbones.as_encoder(net)(x).numpy(), net(x).numpy(), rtol=1e-5,
                               atol=1e-6)


def _vit():
    keras.utils.set_random_seed(0)
    return backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=2, num_heads=2)


def test_vit_patch_tokens_are_the_transformer_outputs_after_the_cls_token():
    encoder = _vit()
    spatial = backbones.spatial_encoder(encoder)
    stages = backbones.vit_stages(encoder)
    x = _images(size=28, channels=1)
    tokens = stages.transformer(stages.embed(x)).numpy()
    assert tokens.shape == (2, 17, 16)
    patches = stages.patch_embed(x)
    assert patches.shape == (2, 4, 4, 16)
    np.testing.assert_allclose(stages.position_embed(patches).numpy(), stages.embed(x).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(tokens[:, 0], encoder(x).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spatial(x).numpy(), tokens[:, 1:], rtol=1e-5, atol=1e-5)
    norm = keras.Model(encoder.inputs[0], encoder.get_layer("norm").output)
    np.testing.assert_allclose(norm(x).numpy()[:, 1:], tokens[:, 1:], rtol=1e-5, atol=1e-5)
    assert backbones.spatial_layout(encoder) == SpatialLayout("tokens", (4, 4), 16, "class_token")
    # a local crop: a 2x2 grid of patches, position embeddings resized
    assert backbones.spatial_layout(encoder, (14, 14, 1)).grid == (2, 2)
    assert spatial(x[:, :14, :14]).shape == (2, 4, 16)
    # shared weights: the patch embedding moves the encoder, its tokens and its stages together
    kernel = encoder.get_layer("patch_embedding").kernel
    kernel.assign(kernel * 3.0)
    tokens = stages.transformer(stages.embed(x)).numpy()
    np.testing.assert_allclose(tokens[:, 0], encoder(x).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spatial(x).numpy(), tokens[:, 1:], rtol=1e-5, atol=1e-5)


def test_vit_transformer_encodes_a_subset_of_tokens_in_any_order():
    """MAE's encoder: the CLS token and the visible patches only.  Positions are in the
    tokens, so the Transformer is permutation-equivariant, and the visible tokens attend to
    each other only (their outputs differ from the same tokens' outputs in the full run)."""
    encoder = _vit()
    stages = backbones.vit_stages(encoder)
    tokens = stages.embed(_images(size=28, channels=1)).numpy()
    full = stages.transformer(tokens).numpy()
    order = np.random.default_rng(1).permutation(17)
    np.testing.assert_allclose(stages.transformer(tokens[:, order]).numpy(), full[:, order],
                               rtol=1e-4, atol=1e-5)
    keep = np.array([0, 1, 6, 11, 16])  # the CLS token and 4 of 16 patches: mask ratio 0.75
    visible = stages.transformer(tokens[:, keep]).numpy()
    assert visible.shape == (2, 5, 16)
    assert not np.allclose(visible, full[:, keep], atol=1e-3)
    assert stages.num_prefix_tokens == 1 and stages.grid == 4


def test_vit_stages_and_spatial_features_survive_a_keras_round_trip(tmp_path):
    encoder = _vit()
    encoder.save(tmp_path / "vit.keras")
    restored = keras.saving.load_model(tmp_path / "vit.keras")
    x = _images(size=28, channels=1)
    np.testing.assert_allclose(backbones.spatial_encoder(restored)(x).numpy(),
                               backbones.spatial_encoder(encoder)(x).numpy(), atol=1e-5)
    stages = backbones.vit_stages(restored)
    np.testing.assert_allclose(stages.transformer(stages.embed(x)).numpy()[:, 0],
                               encoder(x).numpy(), atol=1e-5)
    # a ClassTokenOutput saved before it had `num_prefix_tokens` reads as the CLS token alone
    assert ClassTokenOutput.from_config({"name": "cls", "trainable": True}).num_prefix_tokens == 1


def _token_model(prefix):
    """A toy token backbone: 4x4 patches of 16 px images -> [B, prefix + 16, 8] tokens."""
    images = keras.Input((16, 16, 3))
    patches = keras.layers.Conv2D(8, 4, strides=4)(images)
    tokens = keras.layers.Reshape((16, 8))(patches)
    if prefix:  # a "CLS" and "register" tokens: each a 16x16 convolution of the image
        tokens = keras.layers.Concatenate(axis=1)(
            [keras.layers.Reshape((1, 8))(keras.layers.Conv2D(8, 16)(images))
             for _ in range(prefix)] + [tokens])
    return keras.Model(images, tokens, name=f"tokens{prefix}")


@pytest.mark.parametrize("prefix", [0, 2])
def test_a_token_model_pools_its_first_token_or_the_mean_and_round_trips(prefix, tmp_path):
    keras.utils.set_random_seed(0)
    model = _token_model(prefix)
    encoder = backbones.as_encoder(model, num_prefix_tokens=prefix)
    x = _images(size=16)
    tokens = model(x).numpy()
    pooled = encoder(x).numpy()
    np.testing.assert_allclose(pooled, tokens[:, 0] if prefix else tokens.mean(axis=1),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backbones.spatial_encoder(encoder)(x).numpy(), tokens[:, prefix:],
                               rtol=1e-5, atol=1e-6)
    assert backbones.spatial_layout(encoder) == SpatialLayout(
        "tokens", (4, 4), 8, "class_token" if prefix else "mean")
    encoder.save(tmp_path / "tokens.keras")
    restored = keras.saving.load_model(tmp_path / "tokens.keras")
    np.testing.assert_allclose(backbones.spatial_encoder(restored)(x).numpy(), tokens[:, prefix:],
                               rtol=1e-5, atol=1e-6)


def test_encoders_without_spatial_features_and_bad_arguments_are_refused_by_name():
    flat = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="global pooling"):
        backbones.spatial_encoder(flat)
    with pytest.raises(ValueError, match="functional or Sequential"):
        backbones.spatial_encoder(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="`encoder` must be a ViT"):
        backbones.vit_stages(backbones.small_cnn((8, 8, 1)))
    with pytest.raises(ValueError, match="num_prefix_tokens"):
        backbones.as_encoder(_token_model(0))  # no patch_size: the prefix must be given
    with pytest.raises(ValueError, match="num_prefix_tokens=-1"):
        backbones.as_encoder(_token_model(0), num_prefix_tokens=-1)
    with pytest.raises(ValueError, match="kind='map'"):
        SpatialLayout("map", None, 8, "mean")
    with pytest.raises(ValueError, match="image_shape"):
        backbones.spatial_layout(backbones.small_cnn((8, 8, 1)), image_shape=(8, 8))


@pytest.mark.parametrize("build", [lambda: backbones.small_cnn((16, 16, 1), filters=(4, 8), strides=(1, 2)),
                                   lambda: backbones.vit((16, 16, 1), patch_size=4, dim=8,
                                                         depth=1, num_heads=2)])
def test_a_loss_on_spatial_features_trains_the_encoders_own_variables(build):
    """A dense method differentiates through spatial_encoder(self.encoder): the gradient
    reaches the variables the encoder (and so export and evaluation) uses."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    encoder = build()
    spatial = backbones.spatial_encoder(encoder)
    x = tf.constant(_images(size=16, channels=1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(spatial(x, training=True)))
    gradients = tape.gradient(loss, encoder.trainable_variables)
    reached = [g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients]
    kernels = [len(v.shape) == 4 for v in encoder.trainable_variables]
    assert any(reached) and all(r for r, k in zip(reached, kernels) if k)
