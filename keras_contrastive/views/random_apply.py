"""Apply a layer to each sample of a batch with a given probability."""
import numbers

import keras
import tensorflow as tf

from keras_contrastive._checks import is_int


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomApply(keras.layers.Layer):
    """Applies `layer` to each sample independently with probability `rate`.

    The wrapped layer runs on the whole batch once; a per-sample Bernoulli
    mask then selects, sample by sample, its output or the untouched input
    (so the wrapped layer must keep the shape of its input).  A single
    image `[H, W, C]` is treated as a batch of one.  With `training=False`
    the input is returned unchanged.

    Args:
        layer: A `keras.layers.Layer` that keeps the shape of its input
            (e.g. `keras.layers.RandomColorJitter`).
        rate: Float in `[0, 1]`, the probability that a sample is
            transformed. Defaults to `0.8`.
        seed: Optional int, seed of the mask's random stream (the wrapped
            layer keeps its own seed).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_contrastive.views import RandomApply

    jitter = keras.layers.RandomColorJitter(
        value_range=(0, 1), brightness_factor=0.4, contrast_factor=0.4
    )
    maybe_jitter = RandomApply(jitter, rate=0.8, seed=0)
    images = np.random.uniform(size=(8, 28, 28, 1)).astype("float32")
    outputs = maybe_jitter(images)   # about 80% of the 8 images jittered
    ```
    """

    def __init__(self, layer, rate=0.8, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                "`layer` must be a keras.layers.Layer instance. "
                f"Received: layer={layer!r}"
            )
        if (
            not isinstance(rate, numbers.Real)
            or isinstance(rate, bool)
            or not 0.0 <= rate <= 1.0
        ):
            raise ValueError(
                f"`rate` must be a number in [0, 1]. Received: rate={rate!r}"
            )
        if seed is not None and not is_int(seed):
            raise ValueError(
                f"`seed` must be None or an integer. Received: seed={seed!r}"
            )
        self.layer = layer
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=True):
        images = tf.convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return images
        outputs = self.layer(images, training=training)
        if self.rate == 1.0:
            return outputs
        rank = images.shape.rank
        batch_shape = tf.shape(images)[:1] if rank >= 4 else tf.constant([1])
        apply = (
            keras.random.uniform(batch_shape, seed=self.seed_generator)
            < self.rate
        )
        if rank >= 4:
            apply = tf.reshape(apply, [-1] + [1] * (rank - 1))
        else:
            apply = tf.reshape(apply, [1] * rank)
        return tf.where(apply, outputs, tf.cast(images, outputs.dtype))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "rate": self.rate,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
