"""Every model trains under mixed precision without NaN; losses and queues stay float32."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import backbones, models
from tests.conftest import fixed_views, tiny_encoder
from tests.models import test_momentum_methods, test_redundancy_methods
from tests.models.test_momentum_methods import QUEUED

METHODS = {**test_momentum_methods.METHODS, **test_redundancy_methods.METHODS,
           "swav": lambda encoder: models.SwAV(encoder, projection_dim=16, hidden_dim=32,
                                              num_prototypes=20, queue_length=32),
           "supcon": lambda encoder: models.SupCon(encoder, projection_dim=16),
           "npid": lambda encoder: models.NPID(encoder, num_images=64, projection_dim=16),
           "rotation": lambda encoder: models.RotationPrediction(encoder),
           "cpc": lambda encoder: models.CPC(backbones.resnet18((None, None, 1), width=4),
                                             grid=7, prediction_steps=2),
           "inpainting": lambda encoder: models.Inpainting(encoder),
           "mae": lambda encoder: models.MAE(backbones.vit((28, 28, 1), patch_size=7, dim=16,
                                                           depth=1, num_heads=2),
                                             decoder_dim=16, decoder_depth=1,
                                             decoder_num_heads=2),
           "dino": lambda encoder: models.DINO(encoder, out_dim=64, hidden_dim=32,
                                               bottleneck_dim=16, use_bn_in_head=True)}
CASES = [("mixed_float16", name) for name in sorted(METHODS) + ["simclr"]] + [
    ("mixed_bfloat16", name) for name in ("simclr", "moco_v2", "byol")]


@pytest.mark.parametrize("policy,name", CASES)
def test_trains_under_mixed_precision(policy, name, fashion_mnist_train):
    keras.mixed_precision.set_global_policy(policy)
    try:
        kwargs = {"nnclr": {"support_size": 64},
                  "knn_moco": {"queue_size": 64, "warmup_epochs": 0}}.get(
            name, {"queue_size": 64} if name in QUEUED else {})
        model = (models.SimCLR(tiny_encoder(), projection_dim=16) if name == "simclr"
                 else METHODS[name](tiny_encoder(), **kwargs))
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        if policy == "mixed_float16":  # Keras wraps the optimizer for loss scaling
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        # inpainting's float16 transposed convolutions take ~1.5 CPU-s a step to
        # differentiate on a CPU: 2 steps an epoch for it, 4 for the others
        count = 32 if name == "inpainting" else 64
        x = fixed_views(fashion_mnist_train[0][:count], original=True)
        if model.needs_labels:
            x["labels"] = fashion_mnist_train[1][:count]
        if model.needs_indices:
            x["indices"] = np.arange(count)
        assert model.encoder(x["global"][0][:2]).dtype == policy.split("_")[1]
        start = [w.copy() for w in model.get_weights()]
        data = tf.data.Dataset.from_tensor_slices(x).batch(16)
        loss = model.fit(data, epochs=2, verbose=0).history["loss"]
        assert np.all(np.isfinite(loss)), loss
        assert all(np.all(np.isfinite(w)) for w in model.get_weights())
        assert sum(not np.allclose(a, b) for a, b in zip(start, model.get_weights())) > 5
        loss_value, _ = model.compute_objective(
            {k: tuple(t[:16] for t in v) if k == "global" else v[:16] for k, v in x.items()},
            training=False)
        assert loss_value.dtype == tf.float32
        for queue in ("queue", "feature_queue", "support", "bank"):
            if hasattr(model, queue):
                assert getattr(model, queue).values.dtype == tf.float32
        for queue in getattr(model, "queues", []):
            assert queue.values.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_views_are_float32_under_a_mixed_policy(policy, fashion_mnist_train):
    """Augmentation built after set_global_policy runs in float32 (crop_and_resize
    has no bfloat16 kernel); the model casts to its compute dtype itself."""
    from keras_contrastive import views

    keras.mixed_precision.set_global_policy(policy)
    try:
        augment = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
                                       grayscale_prob=0.0, blur_prob=0.5, solarize_prob=0.2,
                                       seed=0)
        data = views.make_views(tf.data.Dataset.from_tensor_slices(fashion_mnist_train[0][:64]),
                                augment, batch_size=32)
        batch = next(iter(data))
        assert all(v.dtype == tf.float32 for v in batch["global"])
        assert all(layer.dtype_policy.name == "float32" for layer in augment.layers)
    finally:
        keras.mixed_precision.set_global_policy("float32")
