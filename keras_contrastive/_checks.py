"""Argument predicates and checks shared by the library's up-front input checks (internal).

The checks look at values, not Python types: a NumPy scalar (``np.float32(0)``)
or a 0-d array is checked like the Python number it holds; a ``bool`` or a
string where a number is expected is a ``TypeError`` naming the argument; NaN
and infinities are refused.  A symbolic tensor (known only when a step runs)
passes unchecked.
"""
import math
import numbers

#: The most numbers a head or a queue may hold (8 GiB in float32, before the
#: optimizer's slots): a larger ``out_dim`` / ``hidden_dim`` / ``queue_size`` is
#: refused with a message instead of a ``ResourceExhaustedError`` from ``add_weight``.
MAX_PARAMETERS = 2 ** 31


def is_int(value):
    """True for Python and NumPy integers; False for booleans and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value):
    """True for an integer (as :func:`is_int`) greater than zero."""
    return is_int(value) and value > 0


def _symbolic(value):
    """True for a tensor whose value is not known yet (graph mode)."""
    return hasattr(value, "dtype") and hasattr(value, "shape") and not hasattr(value, "numpy") \
        and not hasattr(value, "item")


def _plain(name, value, integer):
    """``value`` as a Python ``int``/``float``, or a ``TypeError`` naming ``name``."""
    if hasattr(value, "numpy") and getattr(value, "shape", None) == ():  # an eager scalar tensor
        value = value.numpy()
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # NumPy scalar, 0-d array
        value = value.item()
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if integer else numbers.Real):
        raise TypeError(f"`{name}` must be {kind}, got {name}={value!r} "
                        f"({type(value).__name__}).")
    return int(value) if integer else value


def _range_text(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"{'<' if high_open else '<='} {high}"


def check_number(name, value, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """``value`` as a Python number if it is a finite number (an integer with
    ``integer=True``) within the bounds, else a ``TypeError`` (not a number: a
    string, a bool, None) or ``ValueError`` (NaN, infinite, out of range) naming
    ``name``.  ``low_open`` / ``high_open`` exclude the bound.  A symbolic
    tensor is returned as it is.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive._checks import check_number
    >>> check_number("momentum", np.float32(0.5), 0, 1)
    0.5
    >>> check_number("momentum", 1.5, 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: `momentum` must be in [0, 1], got momentum=1.5.
    >>> check_number("k", "20", 1, integer=True)
    Traceback (most recent call last):
    ...
    TypeError: `k` must be an integer, got k='20' (str).
    """
    if _symbolic(value):
        return value
    original = value
    value = _plain(name, value, integer)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {name}={original!r}.")
    if (low is not None and (value <= low if low_open else value < low)) or (
            high is not None and (value >= high if high_open else value > high)):
        kind = "an integer " if integer else ""
        raise ValueError(f"`{name}` must be {kind}{_range_text(low, high, low_open, high_open)}, "
                         f"got {name}={original!r}.")
    return value


def check_temperature(temperature, name="temperature"):
    """``temperature`` as a Python float; raises unless it is a positive number
    (tensors are not checked: they are known only when the step runs).

    Example:

    >>> from keras_contrastive._checks import check_temperature
    >>> check_temperature(0.1)
    0.1
    >>> check_temperature(0)
    Traceback (most recent call last):
    ...
    ValueError: `temperature` must be > 0, got temperature=0.
    """
    return check_number(name, temperature, low=0, low_open=True)


def check_non_negative(**values):
    """Raises ``ValueError`` naming the first of ``values`` (numbers) that is
    negative, ``TypeError`` for one that is not a number.

    Example:

    >>> from keras_contrastive._checks import check_non_negative
    >>> check_non_negative(lambda_=0.005, epsilon=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: `epsilon` must be >= 0, got epsilon=-1.0.
    """
    for name, value in values.items():
        check_number(name, value, low=0)


def check_fractions(**values):
    """Raises unless each of ``values`` is a number in [0, 1] (momenta, probabilities).

    Example:

    >>> from keras_contrastive._checks import check_fractions
    >>> check_fractions(momentum=0.99, center_momentum=1.5)
    Traceback (most recent call last):
    ...
    ValueError: `center_momentum` must be in [0, 1], got center_momentum=1.5.
    """
    for name, value in values.items():
        check_number(name, value, low=0, high=1)


def check_counts(low=1, **values):
    """Raises unless each of ``values`` that is not None is an integer >= ``low``
    (a NumPy integer counts; a bool or a float does not).

    Example:

    >>> from keras_contrastive._checks import check_counts
    >>> check_counts(projection_dim=128, hidden_dim=None)
    >>> check_counts(projection_dim=2.5)
    Traceback (most recent call last):
    ...
    TypeError: `projection_dim` must be an integer, got projection_dim=2.5 (float).
    """
    for name, value in values.items():
        if value is not None:
            check_number(name, value, low=low, integer=True)


def check_sinkhorn(epsilon, iterations):
    """Raises ``ValueError`` unless Sinkhorn-Knopp's ``epsilon`` is positive
    and ``iterations`` an integer >= 1.

    Example:

    >>> from keras_contrastive._checks import check_sinkhorn
    >>> check_sinkhorn(0.05, 0)
    Traceback (most recent call last):
    ...
    ValueError: `iterations` must be an integer >= 1, got iterations=0.
    """
    check_number("epsilon", epsilon, low=0, low_open=True)
    check_number("iterations", iterations, low=1, integer=True)


def _available_memory_bytes():
    """The host's available memory (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def dense_parameters(sizes):
    """Weights and biases of a stack of dense layers of ``sizes`` (input size first).

    >>> from keras_contrastive._checks import dense_parameters
    >>> dense_parameters([512, 128])
    65664
    """
    return sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))


def check_parameter_count(what, parameters):
    """Raises ``ValueError`` before ``what`` (a head or a queue, named with its
    arguments) is built if it would hold more than :data:`MAX_PARAMETERS`
    numbers, or more float32 bytes than the host's available memory.

    Example:

    >>> from keras_contrastive._checks import check_parameter_count
    >>> check_parameter_count("a head", 65664)
    >>> check_parameter_count("a head (out_dim=10**10)", 256 * 10**10)
    Traceback (most recent call last):
    ...
    ValueError: a head (out_dim=10**10) would hold 2,560,000,000,000 numbers (10,240,000,000,000 bytes in float32), more than the limit of 2,147,483,648; choose smaller sizes.
    """
    size = f"{parameters:,} numbers ({4 * parameters:,} bytes in float32)"
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"{what} would hold {size}, more than the limit of "
                         f"{MAX_PARAMETERS:,}; choose smaller sizes.")
    available = _available_memory_bytes()
    if available is not None and 4 * parameters > available:
        raise ValueError(f"{what} would hold {size}, more than the {available:,} bytes of "
                         "memory available; choose smaller sizes.")


def image_size_pair(image_size, name="image_size"):
    """``(height, width)`` of ``image_size`` (``None``, a positive int, ``(height,
    width)`` or the text ``"H,W"``), or None; a ValueError naming ``name`` otherwise.

    >>> from keras_contrastive._checks import image_size_pair
    >>> image_size_pair(32), image_size_pair("24,32"), image_size_pair(None)
    ((32, 32), (24, 32), None)
    """
    if image_size is None:
        return None
    value = image_size
    if isinstance(value, str):
        value = [part.strip() for part in value.replace("x", ",").split(",")]
        value = value[0] if len(value) == 1 else value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = (value, value)
    try:
        height, width = (int(n) for n in value)
        valid = all(str(n).strip().isdigit() or isinstance(n, int) for n in value)
    except (TypeError, ValueError):
        height = width = valid = 0
    if not valid or height <= 0 or width <= 0:
        raise ValueError(f"{name} must be a positive int (a square) or H,W (two positive ints, "
                         f"height then width); got {image_size!r}.")
    return height, width
