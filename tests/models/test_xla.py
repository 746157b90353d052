"""``compile(jit_compile=True)`` compiles the whole training step with XLA (single device)."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import models
from tests.conftest import fixed_views, tiny_encoder


def test_an_xla_step_equals_a_plain_step(fashion_mnist_train):
    """MoCo-v2 (encoder, EMA key encoder, queue, InfoNCE) under XLA: same loss,
    weights, key encoder and queue after two steps as without XLA."""
    data = tf.data.Dataset.from_tensor_slices(
        fixed_views(fashion_mnist_train[0][:32])).batch(16)
    runs = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = models.MoCo(tiny_encoder(), queue_size=32, projection_dim=8, hidden_dim=16,
                            momentum=0.9)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=jit)
        loss = model.fit(data, epochs=1, verbose=0).history["loss"]
        assert model.jit_compile is jit
        runs.append((loss, model.get_weights()))
    (loss, weights), (xla_loss, xla_weights) = runs
    np.testing.assert_allclose(xla_loss, loss, rtol=1e-4)
    for a, b in zip(weights, xla_weights):
        np.testing.assert_allclose(b, a, atol=1e-4)
