"""I-JEPA: the context encoder sees the context patches only, the loss is ijepa_loss of the
predictor's outputs against the target encoder's, 2 replicas equal 1 (then the trained
model's save/load round trip), learning on real images without collapse, refusals."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import backbones, losses, models, views
from keras_contrastive.models import embedding_std
from tests.conftest import assert_round_trip, fit_on_one_and_two_replicas, fixed_views, small_cnn


def _vit(patch_size=7, dim=16, depth=1):
    return backbones.vit((28, 28, 1), patch_size=patch_size, dim=dim, depth=depth, num_heads=2)


def _ijepa(encoder=None, **kwargs):
    return models.IJEPA(encoder or _vit(), **{"predictor_dim": 16, "predictor_depth": 1,
                                              "predictor_num_heads": 2, **kwargs})


def test_context_encoder_sees_only_the_context_and_the_loss_is_ijepa_loss(fashion_mnist_train):
    """Changing every pixel outside the context patches leaves the predictions as they
    were (the targets change); the objective is ijepa_loss of the two."""
    model = _ijepa(_vit(patch_size=4))  # 7x7 patches
    x = fashion_mnist_train[0][:6].astype("float32") / 255.0
    context_ids, target_ids = model.sample_masks(6)
    predictions, targets, _ = model.predict_targets(x, context_ids, target_ids)
    assert predictions.shape == targets.shape and predictions.shape[:2] == (6, 4)
    in_context = np.zeros((6, 49), bool)
    np.put_along_axis(in_context, context_ids.numpy(), True, axis=1)
    pixels = np.repeat(np.repeat(in_context.reshape(6, 7, 7), 4, 1), 4, 2)[..., None]
    changed = np.where(pixels, x, 1.0 - x).astype("float32")
    again, changed_targets, _ = model.predict_targets(changed, context_ids, target_ids)
    np.testing.assert_allclose(again.numpy(), predictions.numpy(), atol=1e-5)
    assert not np.allclose(changed_targets.numpy(), targets.numpy(), atol=1e-3)

    value, extras = model.compute_objective({"global": (x, x)}, training=False)
    np.testing.assert_allclose(float(value), float(losses.ijepa_loss(predictions, targets)),
                               rtol=1e-5)
    np.testing.assert_allclose(extras["embeddings"], model.feature_extractor()(x), atol=1e-5)


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas,
                                                 tmp_path):
    """Masks keyed by the step over the global batch, the EMA target after the step:
    loss and every variable (target included) agree (float32, conftest.replica_tolerance).
    The trained model then makes a save/load round trip (one training for both)."""
    images = fashion_mnist_train[0][:8]
    dataset = tf.data.Dataset.from_tensors(fixed_views(images))

    def build():
        # total_steps: the schedule not over after 1 step; the rest: not the defaults
        model = _ijepa(momentum=0.5, total_steps=4, num_targets=3, target_scale=(0.1, 0.2),
                       seed=3)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return model

    single, _, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    # the target moved by the EMA of the encoder: m * start + (1 - m) * trained
    m = float(single.target.momentum_at(1))
    index = {id(w): i for i, w in enumerate(single.weights)}
    moved = []
    for online, target in zip(single.encoder.weights, single.target.target.weights):
        before = start[index[id(target)]]
        np.testing.assert_allclose(target.numpy(), m * before + (1 - m) * online.numpy(),
                                   atol=1e-6)
        moved.append(not np.allclose(target.numpy(), before))
    assert sum(moved) > len(moved) // 2

    restored = assert_round_trip(single, str(tmp_path / "ijepa.keras"), images[:4])
    assert (restored.num_targets, restored.target_scale, restored.seed) == (3, (0.1, 0.2), 3)
    x = images[:4].astype("float32") / 255.0
    np.testing.assert_allclose(restored.feature_extractor()(x), single.feature_extractor()(x),
                               atol=1e-6)
    for a, b in zip(single.sample_masks(4), restored.sample_masks(4)):  # the step restored too
        np.testing.assert_array_equal(a, b)


MEASURED_EPOCHS = 3


def test_loss_falls_and_the_target_representation_does_not_collapse(fashion_mnist_train):
    """Real Fashion-MNIST, a 2-block ViT (patch 4: 49 patches), crops only (the paper's
    views).  On held-out images with fixed masks the loss falls; the target encoder's
    features (what is exported) keep their spread: embedding_std above 0.03 and above half
    its value at init, measured here (a collapse sends it to 0; the collapsed baseline,
    every image mapped to one point, is measured too).  Measured (seed 0, 3 epochs of 8
    steps, 10-23 s on the loaded 2-core machine): held-out loss 1.883 -> 0.548,
    embedding_std 0.070 at init -> 0.066 (1/sqrt(32) = 0.177 for a uniform spread; 5
    epochs: 0.537, 0.067).  With momentum 0 (no EMA) 5 epochs did not collapse either
    (0.066): no cheap collapsing twin to compare with."""
    train, held_out = fashion_mnist_train[0][:512], fashion_mnist_train[0][1024:1280]
    crops = views.simclr_augment(28, channels=1, strength=0.0, crop_scale=(0.3, 1.0),
                                 grayscale_prob=0.0, seed=0)
    # reproducible crops (epochs, deterministic: see tests/conftest.py::crop_views)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(train), crops, batch_size=64,
                            seed=0, epochs=MEASURED_EPOCHS, deterministic=True)
    model = _ijepa(_vit(patch_size=4, dim=32, depth=2), predictor_dim=32, momentum=0.99)
    model.compile(optimizer=keras.optimizers.AdamW(2e-3, weight_decay=0.04))
    x = held_out.astype("float32") / 255.0
    masks = model.sample_masks(len(x))

    def measure():
        predictions, targets, _ = model.predict_targets(x, *masks)
        features = model.feature_extractor()(x)
        return float(losses.ijepa_loss(predictions, targets)), float(embedding_std(features))

    start, start_std = measure()
    history = model.fit(data, epochs=MEASURED_EPOCHS, steps_per_epoch=len(train) // 64,
                        verbose=0).history["loss"]
    trained, trained_std = measure()
    collapsed = float(embedding_std(model.feature_extractor()(np.repeat(x[:1], len(x), 0))))
    assert trained < 0.5 * start and history[-1] < history[0]
    assert trained_std > max(0.03, 0.5 * start_std, collapsed + 0.03), (trained_std, start_std)


def test_non_vit_encoders_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="I-JEPA encodes a context block of a ViT.*vit_tiny"):
        models.IJEPA(small_cnn())
    with pytest.raises(ValueError, match="target_scale"):
        _ijepa(target_scale=(0.3, 0.2))
    with pytest.raises(ValueError, match="predictor_dim"):
        _ijepa(predictor_dim=15)
    with pytest.raises(ValueError, match="momentum"):
        _ijepa(momentum=1.5)
