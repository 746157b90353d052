"""The precision the library's objectives compute in (internal)."""
import tensorflow as tf


def at_least_float32(x):
    """``x`` as a tensor in float32, or float64 if it is float64: the precision every
    loss computes in (float16/bfloat16 inputs are upcast under mixed precision).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive._numerics import at_least_float32
    >>> at_least_float32(np.ones(2, np.float16)).dtype.name, at_least_float32(np.ones(2)).dtype.name
    ('float32', 'float64')
    """
    x = tf.convert_to_tensor(x)
    return tf.cast(x, tf.float64 if x.dtype == tf.float64 else tf.float32)
