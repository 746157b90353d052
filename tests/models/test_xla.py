"""``compile(jit_compile=True)`` compiles the whole training step with XLA (single device)."""
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import models
from tests.conftest import fixed_views, tiny_encoder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


_COUNT_COMPILATIONS = """
import keras, numpy as np, tensorflow as tf
from keras_contrastive import models
from tests.conftest import tiny_encoder
x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
data = tf.data.Dataset.from_tensor_slices({"global": (x, x[::-1].copy())}).batch(16)
for model in (models.SimCLR(tiny_encoder(), projection_dim=8, hidden_dim=16),
              models.MoCo(tiny_encoder(), queue_size=32, projection_dim=8, hidden_dim=16)):
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    model.fit(data, epochs=1, verbose=0)
    print("STEPS", int(model.optimizer.iterations), flush=True)
"""


def test_an_xla_step_is_compiled_once_not_on_every_step():
    """A loss core nested in a step XLA compiles whole made XLA compile the step again on
    every step (a tf.concat in a nested jit function: 4 compilations in 4 steps); the
    step now takes the cores' bodies (``_numerics.inline_xla_cores``).  TensorFlow logs
    each XLA compilation (device_compiler, verbosity 1): one per model here."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", TF_CPP_VMODULE="device_compiler=1",
               PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", _COUNT_COMPILATIONS], capture_output=True,
                            text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["STEPS", "4", "STEPS", "4"], result.stdout
    compilations = result.stderr.count("Compilation of XLA executable")
    assert compilations == 2, result.stderr[-3000:]
