"""The precision the library's objectives compute in, and their XLA cores (internal)."""
import contextlib
import functools
import threading

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


_inlining = threading.local()


def xla_core(function):
    """Decorates a loss's arithmetic as an XLA-compiled core:
    ``tf.function(jit_compile=True, reduce_retracing=True)``, except inside
    ``inline_xla_cores()`` (a whole training step being compiled by XLA), where
    the Python body is traced into the caller's one XLA program.  A compiled
    core nested in an XLA-compiled step made XLA compile again on every step
    (``tests/models/test_xla.py`` counts the compilations).

    The compiled function is ``core.compiled``, the Python body
    ``core.python_function``.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive._numerics import inline_xla_cores, xla_core
    >>> @xla_core
    ... def _double(x):
    ...     return 2 * x
    >>> float(_double(tf.constant(1.5))), _double._jit_compile
    (3.0, True)
    >>> with inline_xla_cores():
    ...     float(_double(tf.constant(1.5)))
    3.0
    """
    compiled = tf.function(function, jit_compile=True, reduce_retracing=True)

    @functools.wraps(function)
    def core(*args, **kwargs):
        if getattr(_inlining, "depth", 0):
            return function(*args, **kwargs)
        return compiled(*args, **kwargs)

    core.compiled = compiled
    core.python_function = function
    core._jit_compile = True
    return core


@contextlib.contextmanager
def inline_xla_cores(active=True):
    """Within it (on this thread), ``xla_core`` functions run their Python body:
    for a step that XLA compiles as a whole (``compile(jit_compile=True)``).

    Example:

    >>> from keras_contrastive._numerics import inline_xla_cores
    >>> with inline_xla_cores(False):
    ...     pass
    """
    _inlining.depth = getattr(_inlining, "depth", 0) + bool(active)
    try:
        yield
    finally:
        _inlining.depth -= bool(active)
