"""What every schedule shares: the base class, nested children, step casting."""

import math
import numbers

import keras
from keras import ops

from keras_lr import _validation

__all__ = ["ConfigRepr", "as_float_step", "check_schedule_or_number", "deserialize_child", "evaluate", "power", "serialize_child"]

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


def _shown(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    if callable(value) and hasattr(value, "__name__") and not isinstance(value, type):
        return value.__name__
    return repr(value)


class ConfigRepr:
    """A schedule's repr with its arguments, from `get_config()`:
    `OneCycle(max_learning_rate=0.01, total_steps=450, ...)`, nested
    schedules shown as theirs (the live attribute where there is one)."""

    def __repr__(self):
        try:
            config = self.get_config()
        except Exception:  # a half-built object: Python's default
            return object.__repr__(self)
        parts = []
        for key, value in config.items():
            if key == "name" and value in (None, type(self).__name__):
                continue
            serialized = isinstance(value, dict) or (
                isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value))
            if serialized and hasattr(self, key):
                value = getattr(self, key)  # the live schedules, not their configs
            parts.append(f"{key}={_shown(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"


def as_float_step(step):
    """Casts the optimizer's integer step (or an array of steps) to float32."""
    return ops.cast(step, "float32")


def check_schedule_or_number(name, value):
    """Accepts a `LearningRateSchedule` or a finite number >= 0."""
    if isinstance(value, LearningRateSchedule):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _validation.require_non_negative(name, value)
    raise TypeError(
        f"Argument `{name}` must be a float or a "
        "`keras.optimizers.schedules.LearningRateSchedule`. "
        f"Received: {name}={value!r} of type {type(value).__name__}"
    )


def evaluate(schedule_or_number, step):
    """Value of a child schedule (or constant) at `step`, as float32."""
    if isinstance(schedule_or_number, LearningRateSchedule):
        return ops.cast(schedule_or_number(step), "float32")
    return ops.cast(schedule_or_number, "float32")


def serialize_child(value):
    if isinstance(value, LearningRateSchedule):
        return keras.saving.serialize_keras_object(value)
    return value


def deserialize_child(value):
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


def power(base, x):
    """`base ** x` in float32 for an integer-valued `x` in `[0, 2**24)`,
    within a few float32 ulps of the exact value.

    A plain float32 `base ** x` has the relative error of `x * log(base)`
    rounded to float32: 1e-6 at `x = 8000` for `base = 0.996`. Here
    `log(base)` is split into a 12-bit head and a tail, and `x` into its
    multiples of 4096 and the rest, so that both products with the head are
    exact in float32: `base ** x = exp(x_hi * head) * exp(x_lo * head) *
    exp(x * tail)`.
    """
    log_base = math.log(base)
    if log_base == 0.0:
        return ops.ones_like(ops.cast(x, "float32"))
    mantissa, exponent = math.frexp(log_base)
    head = math.ldexp(round(mantissa * 4096) / 4096, exponent)
    tail = log_base - head
    x = ops.cast(x, "float32")
    x_hi = ops.floor(x / 4096.0) * 4096.0
    x_lo = x - x_hi
    return (ops.exp(x_hi * head) * ops.exp(x_lo * head)) * ops.exp(x * tail)
