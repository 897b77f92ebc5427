"""Argument validation shared by every public class.

One message format, Keras's: ``Argument `x` must be > 0. Received: x=-1``.
"""

import math
import numbers

import numpy as np

# Learning rates and schedule arguments are computed in float32.
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_scalar(value):
    """A 0-d tensor, array or variable (as tensorflow-addons accepts) as a
    Python float; any other value unchanged."""
    if _is_real(value) or isinstance(value, (bool, str, bytes)) or value is None:
        return value
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - not array-like: left for the caller to refuse
        return value
    if array.shape == () and array.dtype.kind in "fiu":
        return float(array)
    return value


def require_number(name, value, *, minimum=None, maximum=None,
                   min_inclusive=True, max_inclusive=True):
    """Checks that `value` is a finite real number inside the given bounds.

    Returns:
        The value as a Python float.

    Raises:
        ValueError: naming the argument and the value received.
    """
    value = as_scalar(value)
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(
            f"Argument `{name}` must be a finite number. "
            f"Received: {name}={value!r}"
        )
    value = float(value)
    if value != 0 and not _FLOAT32_TINY <= abs(value) <= _FLOAT32_MAX:
        raise ValueError(
            f"Argument `{name}` must be 0 or between {_FLOAT32_TINY:.3g} and "
            f"{_FLOAT32_MAX:.3g} in magnitude: it is computed in float32, "
            f"where it would {'overflow' if abs(value) > 1 else 'underflow'}. "
            f"Received: {name}={value!r}")
    if minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
        if not ok:
            op = ">=" if min_inclusive else ">"
            raise ValueError(
                f"Argument `{name}` must be {op} {minimum}. "
                f"Received: {name}={value!r}"
            )
    if maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
        if not ok:
            op = "<=" if max_inclusive else "<"
            raise ValueError(
                f"Argument `{name}` must be {op} {maximum}. "
                f"Received: {name}={value!r}"
            )
    return value


def require_positive(name, value):
    """Checks that `value` is a finite number > 0 and returns it as float."""
    return require_number(name, value, minimum=0, min_inclusive=False)


def require_non_negative(name, value):
    """Checks that `value` is a finite number >= 0 and returns it as float."""
    return require_number(name, value, minimum=0)


def require_int(name, value, *, minimum=None):
    """Checks that `value` is an integer (not a bool) >= `minimum`."""
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)):
        raise ValueError(
            f"Argument `{name}` must be an integer. Received: {name}={value!r}"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(
            f"Argument `{name}` must be >= {minimum}. Received: {name}={value!r}"
        )
    return value


def require_bool(name, value):
    """Checks that `value` is a bool (not merely truthy)."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Argument `{name}` must be a bool. Received: {name}={value!r}"
        )
    return value


def require_one_of(name, value, choices):
    """Checks that `value` is one of `choices`."""
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"Argument `{name}` must be one of {expected}. "
            f"Received: {name}={value!r}"
        )
    return value


def require_type(name, value, types, description):
    """Checks `isinstance(value, types)`; `description` names what is expected."""
    if not isinstance(value, types):
        raise TypeError(
            f"Argument `{name}` must be {description}. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    return value
