"""State carried across training steps: feature queues, memory banks and momentum (EMA) encoders.

All are Keras layers whose state lives in Keras variables, so
``model.save``, ``ModelCheckpoint`` and ``BackupAndRestore`` carry it.  A
model changes them in ``update_state``, after the optimizer step, never as a
side effect of computing a loss.

Example:

>>> import numpy as np
>>> from keras_contrastive.state import FeatureQueue
>>> queue = FeatureQueue(size=8, dim=4)
>>> queue.enqueue(np.eye(4, dtype="float32"))
>>> int(queue.pointer.numpy())
4
"""
import math

import keras
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_parameter_count, is_positive_int


def _unit_rows_initializer(seed):
    def initialize(shape, dtype=None):
        rows = keras.random.normal(shape, seed=seed, dtype=dtype or "float32")
        return rows / keras.ops.norm(rows, axis=1, keepdims=True)

    return initialize


@keras.saving.register_keras_serializable(package="keras_contrastive")
class FeatureQueue(keras.layers.Layer):
    """A FIFO ring buffer of ``size`` feature vectors (MoCo's dictionary).

    Starts as random unit vectors.  ``enqueue(keys)`` writes the keys of the
    **global** batch (every replica's, in replica order) at the pointer and
    advances it modulo ``size``; every replica then holds the same queue.
    ``size`` must be a multiple of the global batch so a batch never wraps
    (checked when the batch size is known, else when tracing).

    Args:
        size: number of vectors held.
        dim: size of each vector.
        seed: seed of the random initial vectors.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.state import FeatureQueue
    >>> queue = FeatureQueue(size=4, dim=2)
    >>> queue.enqueue(np.array([[1., 0.], [0., 1.]], "float32"))
    >>> queue.values.numpy()[:2].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, size, dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("size", size), ("dim", dim)):
            if not is_positive_int(value):
                raise ValueError(f"`{name}` must be a positive integer, got {name}={value!r}.")
        self.size = int(size)
        self.dim = int(dim)
        check_parameter_count(f"{self.name} (size={self.size}, dim={self.dim})",
                              self.size * self.dim)
        self.seed = seed
        self.buffer = self.add_weight(
            shape=(self.size, self.dim), initializer=_unit_rows_initializer(seed),
            trainable=False, name="buffer", aggregation="only_first_replica",
        )
        self.pointer = self.add_weight(
            shape=(), initializer="zeros", dtype="int64", trainable=False, name="pointer",
            aggregation="only_first_replica",
        )
        self.built = True

    @property
    def values(self):
        """The ``[size, dim]`` queue contents (no gradient)."""
        return tf.stop_gradient(tf.convert_to_tensor(self.buffer))

    def check_batch(self, global_batch):
        """Raises ``ValueError`` unless ``size`` is a multiple of ``global_batch``."""
        if global_batch and self.size % global_batch:
            raise ValueError(
                f"queue size {self.size} is not a multiple of the global batch "
                f"{global_batch}: choose a size that is (e.g. "
                f"{max(1, self.size // global_batch) * global_batch})."
            )

    def enqueue(self, keys):
        """Writes the global batch of ``keys`` (``[n, dim]`` per replica) and advances."""
        keys = tf.stop_gradient(tf.cast(keys, self.buffer.dtype))
        keys = distribute.all_gather(keys)
        static = keys.shape[0]
        if static is not None:
            self.check_batch(static)
            batch = tf.constant(static, tf.int64)
        else:
            batch = tf.cast(tf.shape(keys)[0], tf.int64)
            tf.debugging.assert_equal(
                tf.math.floormod(tf.constant(self.size, tf.int64), batch), tf.constant(0, tf.int64),
                message=f"queue size {self.size} must be a multiple of the global batch")
        pointer = tf.convert_to_tensor(self.pointer)
        indices = tf.math.floormod(pointer + tf.range(batch, dtype=tf.int64), self.size)
        self.buffer.assign(tf.tensor_scatter_nd_update(
            tf.convert_to_tensor(self.buffer), indices[:, None], keys))
        self.pointer.assign(tf.math.floormod(pointer + batch, self.size))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "dim": self.dim, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MemoryBank(keras.layers.Layer):
    """One unit vector per training image (NPID's memory bank, Wu et al. 2018).

    Starts as random unit vectors.  ``update(indices, features)`` moves the
    entries of the **global** batch (every replica's indices and features,
    gathered in replica order, so every replica holds the same bank) toward
    the new features and back onto the sphere:

        v_i <- normalise(m v_i + (1 - m) f_i)

    with ``f_i`` l2-normalised first.  The global batch's indices must be
    distinct and lie in ``[0, size)``: several views of one image are
    several visits, one ``update`` each.

    Args:
        size: number of entries (the training images).
        dim: size of each vector.
        momentum: ``m`` in [0, 1) (0.5 in the paper).
        seed: seed of the random initial vectors.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.state import MemoryBank
    >>> bank = MemoryBank(size=3, dim=2, momentum=0.5, seed=0)
    >>> before = bank.values.numpy()
    >>> bank.update(np.array([2]), np.array([[3., 4.]], "float32"))  # f = (0.6, 0.8)
    >>> mixed = 0.5 * before[2] + 0.5 * np.array([0.6, 0.8])
    >>> after = bank.values.numpy()
    >>> bool(np.allclose(after[2], mixed / np.linalg.norm(mixed))), bool((after[:2] == before[:2]).all())
    (True, True)
    """

    def __init__(self, size, dim, momentum=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("size", size), ("dim", dim)):
            if not is_positive_int(value):
                raise ValueError(f"`{name}` must be a positive integer, got {name}={value!r}.")
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"`momentum` must be in [0, 1), got momentum={momentum!r}.")
        self.size, self.dim, self.momentum, self.seed = int(size), int(dim), float(momentum), seed
        self.bank = self.add_weight(
            shape=(self.size, self.dim), initializer=_unit_rows_initializer(seed),
            trainable=False, name="bank", aggregation="only_first_replica",
        )
        self.built = True

    @property
    def values(self):
        """The ``[size, dim]`` bank (no gradient)."""
        return tf.stop_gradient(tf.convert_to_tensor(self.bank))

    def update(self, indices, features):
        """Moves the global batch's entries ``indices`` (``[n]`` per replica,
        distinct) toward ``features`` (``[n, dim]`` per replica)."""
        features = tf.math.l2_normalize(
            tf.stop_gradient(tf.cast(features, self.bank.dtype)), axis=1)
        indices = distribute.all_gather(tf.cast(tf.reshape(indices, [-1]), tf.int64))
        features = distribute.all_gather(features)
        bank = tf.convert_to_tensor(self.bank)
        mixed = self.momentum * tf.gather(bank, indices) + (1.0 - self.momentum) * features
        self.bank.assign(tf.tensor_scatter_nd_update(bank, indices[:, None],
                                                     tf.math.l2_normalize(mixed, axis=1)))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "dim": self.dim,
                "momentum": self.momentum, "seed": self.seed}


def cosine_momentum(base, step, total_steps):
    """BYOL's schedule: ``1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2``.

    ``base`` at step 0, rising to 1 at ``total_steps`` (held at 1 after).

    Example:

    >>> from keras_contrastive.state import cosine_momentum
    >>> [round(float(cosine_momentum(0.996, s, 100)), 4) for s in (0, 50, 100, 200)]
    [0.996, 0.998, 1.0, 1.0]
    """
    progress = tf.minimum(tf.cast(step, tf.float32) / tf.cast(total_steps, tf.float32), 1.0)
    return 1.0 - (1.0 - base) * (tf.cos(math.pi * progress) + 1.0) / 2.0


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MomentumEncoder(keras.layers.Layer):
    """A target copy of an online network, updated as an exponential moving average.

    ``update(online, step)`` sets every variable of the target, BN moving
    statistics included, to ``m * target + (1 - m) * online``.  With
    ``schedule="cosine"`` the momentum follows :func:`cosine_momentum` from
    ``momentum`` to 1 over ``total_steps``, driven by the step passed in
    (the optimizer's iteration count, so a resumed run continues the
    schedule).  The target starts equal to the online network and receives
    no gradients.

    Args:
        network: the online ``keras.Model`` (functional or Sequential) to copy.
        momentum: ``m`` (constant) or the schedule's base value.
        schedule: ``"constant"`` or ``"cosine"``.
        total_steps: steps of the cosine schedule (may be set later, e.g. by
            ``fit``, through ``total_steps_variable``).

    Example:

    >>> import keras
    >>> from keras_contrastive.state import MomentumEncoder
    >>> online = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> target = MomentumEncoder(online, momentum=0.99)
    >>> target.update(online, step=0)
    >>> tuple(target(keras.ops.ones((1, 3))).shape)
    (1, 2)
    """

    def __init__(self, network, momentum=0.999, schedule="constant", total_steps=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1], got momentum={momentum!r}.")
        if schedule not in ("constant", "cosine"):
            raise ValueError(f"`schedule` must be 'constant' or 'cosine', got {schedule!r}.")
        try:
            self.target = keras.models.clone_model(network)
        except Exception as error:  # subclassed models cannot be cloned from config
            raise ValueError(
                f"MomentumEncoder needs a functional or Sequential network to copy; "
                f"cloning {type(network).__name__} failed: {error}"
            ) from error
        self.target.set_weights(network.get_weights())
        # Its variables are not the optimizer's, but its layers stay trainable
        # so that BN uses batch statistics under ``training=True``, as MoCo's
        # key encoder and BYOL's target do.
        for variable in self.target.weights:
            variable.trainable = False
        self.momentum = float(momentum)
        self.schedule = schedule
        self.total_steps = total_steps
        self.total_steps_variable = self.add_weight(
            shape=(), dtype="int64", trainable=False, name="total_steps",
            initializer=keras.initializers.Constant(total_steps or 0),
            aggregation="only_first_replica",
        )
        self.built = True

    def call(self, inputs, training=False):
        return tf.nest.map_structure(tf.stop_gradient, self.target(inputs, training=training))

    def momentum_at(self, step):
        """The momentum used by the update after optimizer step ``step``."""
        if self.schedule == "constant":
            return tf.constant(self.momentum, tf.float32)
        total = tf.convert_to_tensor(self.total_steps_variable)
        return tf.cond(total > 0,
                       lambda: cosine_momentum(self.momentum, step, tf.maximum(total, 1)),
                       lambda: tf.constant(self.momentum, tf.float32))

    def update(self, online, step):
        """``target = m * target + (1 - m) * online`` for every variable."""
        m = self.momentum_at(step)
        online_weights = online.weights
        if len(online_weights) != len(self.target.weights):
            raise ValueError("the online network's variables do not match the target's.")
        for target, source in zip(self.target.weights, online_weights):
            value = tf.convert_to_tensor(source)
            mixed = tf.cast(m, value.dtype) * tf.convert_to_tensor(target) + tf.cast(
                1.0 - m, value.dtype) * value
            target.assign(mixed)

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.target),
            "momentum": self.momentum,
            "schedule": self.schedule,
            "total_steps": self.total_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
