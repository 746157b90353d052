"""Stronger augmentations (A+, "Revisiting Contrastive Methods...", Sec. 4.2)."""
import keras
import tensorflow as tf


def strong_policy(seed=None):
    """Horizontal flip + Keras 3 ``RandAugment`` (2 ops, factor 0.5) on [0, 1] images:
    the stand-in for the paper's ImageNet AutoAugment policy.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.stronger import strong_policy
    >>> strong_policy(seed=0)(np.zeros((2, 28, 28, 1), "float32"), training=True).shape
    TensorShape([2, 28, 28, 1])
    """
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandAugment(value_range=(0, 1), num_ops=2, factor=0.5, seed=seed),
    ], name="strong_policy")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class StrongerAugment(keras.layers.Layer):
    """A+: each image gets ``strong`` with probability ``probability``, else ``standard``.

    The choice is drawn per image and per call.  The paper applies it to
    every view except the key crop (``MultiCrop(strong_augment=...)`` does).

    Args:
        standard: the standard pipeline (a layer on a float batch).
        strong: the strong policy (default :func:`strong_policy`).
        probability: chance of the strong policy (0.5).
        seed: seed of the per-image choice.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.views import StrongerAugment
    >>> plus = StrongerAugment(keras.layers.Identity(), keras.layers.Rescaling(0.0), seed=0)
    >>> out = plus(np.ones((1000, 2, 2, 1), "float32"))
    >>> 0.45 < float((out.numpy() == 0).all(axis=(1, 2, 3)).mean()) < 0.55
    True
    """

    def __init__(self, standard, strong=None, probability=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"`probability` must be in [0, 1], got {probability!r}.")
        self.standard = standard
        self.strong = strong if strong is not None else strong_policy(seed)
        self.probability, self.seed = probability, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.built = True

    def choose(self, batch):
        """``[batch]`` booleans: which images get the strong policy."""
        return keras.random.uniform([batch], seed=self.seed_generator) < self.probability

    def call(self, images, training=True):
        images = tf.cast(images, tf.float32)
        strong = self.choose(tf.shape(images)[0])
        a = tf.cast(self.standard(images, training=training), tf.float32)
        b = tf.cast(self.strong(images, training=training), tf.float32)
        return tf.where(strong[:, None, None, None], b, a)

    def get_config(self):
        return {**super().get_config(),
                "standard": keras.saving.serialize_keras_object(self.standard),
                "strong": keras.saving.serialize_keras_object(self.strong),
                "probability": self.probability, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("standard", "strong"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
