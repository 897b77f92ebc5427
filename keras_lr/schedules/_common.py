"""Helpers shared by the schedules: nested children and step casting."""

import numbers

import keras
from keras import ops

from keras_lr import _validation

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


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
