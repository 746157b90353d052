"""What the step-time benchmarks share: a per-step timer for ``model.fit`` and
a one-line description of the machine.

``StepTimer`` is not ``async_safe``, so Keras (3.15, ``CallbackList``)
converts each step's logs to Python numbers before calling it, which should
make a timed step end when the device has finished it, not when it was
dispatched (read in Keras' source, not checked on a GPU).

Example:

>>> import keras, numpy as np
>>> from timing import StepTimer  # benchmarks/ is the scripts' directory
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> timer = StepTimer(warmup=1)
>>> _ = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), batch_size=2, verbose=0,
...               callbacks=[timer])
>>> len(timer.seconds), timer.first > 0
(3, True)
"""
import os
import time

import keras
import tensorflow as tf


class StepTimer(keras.callbacks.Callback):
    """Seconds of each ``fit`` step after the first ``warmup`` ones (``seconds``),
    and of the very first step (``first``: tracing and compilation included).

    Example: see the module's.
    """

    def __init__(self, warmup):
        super().__init__()
        self.warmup, self.seconds, self.first = warmup, [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        elapsed = time.perf_counter() - self._start
        if self.first is None:
            self.first = elapsed
        if batch >= self.warmup:
            self.seconds.append(elapsed)


def machine_description():
    """CPU cores, TensorFlow version and the visible GPUs' names.

    >>> from timing import machine_description
    >>> "CPU cores, TensorFlow" in machine_description()
    True
    """
    machine = f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        machine += ", " + ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus)
    return machine
