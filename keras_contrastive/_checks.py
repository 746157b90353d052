"""Argument predicates and checks shared by the library's up-front input checks (internal)."""
import numbers


def is_int(value):
    """True for Python and NumPy integers; False for booleans and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value):
    """True for an integer (as :func:`is_int`) greater than zero."""
    return is_int(value) and value > 0


def check_temperature(temperature):
    """Raises ``ValueError`` unless ``temperature`` is a positive number
    (tensors are not checked: they are known only when the step runs).

    Example:

    >>> from keras_contrastive._checks import check_temperature
    >>> check_temperature(0.1)
    >>> check_temperature(0)
    Traceback (most recent call last):
    ...
    ValueError: `temperature` must be > 0, got temperature=0.
    """
    if isinstance(temperature, (int, float)) and not temperature > 0:
        raise ValueError(
            f"`temperature` must be > 0, got temperature={temperature!r}."
        )


def check_non_negative(**values):
    """Raises ``ValueError`` naming the first of ``values`` (numbers) that is negative.

    Example:

    >>> from keras_contrastive._checks import check_non_negative
    >>> check_non_negative(lambda_=0.005, epsilon=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: `epsilon` must be >= 0, got epsilon=-1.0.
    """
    for name, value in values.items():
        if isinstance(value, (int, float)) and not value >= 0:
            raise ValueError(f"`{name}` must be >= 0, got {name}={value!r}.")


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
    if isinstance(epsilon, (int, float)) and not epsilon > 0:
        raise ValueError(f"`epsilon` must be > 0, got epsilon={epsilon!r}.")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ValueError(f"`iterations` must be an integer >= 1, got iterations={iterations!r}.")
