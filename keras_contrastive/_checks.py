"""Argument predicates shared by the library's up-front input checks (internal)."""
import numbers


def is_int(value):
    """True for Python and NumPy integers; False for booleans and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value):
    """True for an integer (as :func:`is_int`) greater than zero."""
    return is_int(value) and value > 0
