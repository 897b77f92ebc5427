"""Piecewise composition of schedules, each piece on its own local step."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.schedules import _common

__all__ = ["Join"]


@keras.saving.register_keras_serializable(package="keras_lr")
class Join(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """Runs schedules one after the other, each seeing its local step.

    With `boundaries = [b1, b2, ...]`, `schedules[0]` runs on steps
    `[0, b1)`, `schedules[1]` on `[b1, b2)` called with `step - b1`, and so
    on; the last one runs from the last boundary on. At a boundary the next
    piece starts (its step 0), as in optax's `join_schedules`.

    Args:
        schedules: List of at least two pieces, each a
            `keras.optimizers.schedules.LearningRateSchedule` or a float >= 0
            (a constant).
        boundaries: List of `len(schedules) - 1` strictly increasing
            integers >= 1: the global steps where the next piece starts.
        name: String. Defaults to `"Join"`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if the lengths do not match or the boundaries are not
            strictly increasing positive integers.
        TypeError: if a piece is neither a schedule nor a number.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.Join(
    ...     [keras_lr.schedules.OneCycle(0.1, total_steps=500),
    ...      keras_lr.schedules.TriangularCyclicalLearningRate(1e-4, 1e-3, 100)],
    ...     boundaries=[500])

    ```
    """

    def __init__(self, schedules, boundaries, name="Join"):
        super().__init__()
        if not isinstance(schedules, (list, tuple)) or len(schedules) < 2:
            raise ValueError(
                "Argument `schedules` must be a list of at least 2 schedules "
                f"or floats. Received: schedules={schedules!r}"
            )
        if not isinstance(boundaries, (list, tuple)):
            raise ValueError(
                "Argument `boundaries` must be a list of integers. "
                f"Received: boundaries={boundaries!r}"
            )
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "Argument `boundaries` must have len(schedules) - 1 = "
                f"{len(schedules) - 1} entries. Received: "
                f"boundaries={list(boundaries)!r} ({len(boundaries)} entries) "
                f"for {len(schedules)} schedules"
            )
        self.schedules = [
            _common.check_schedule_or_number(f"schedules[{i}]", s)
            for i, s in enumerate(schedules)
        ]
        previous = 0
        checked = []
        for i, boundary in enumerate(boundaries):
            boundary = _validation.require_int(f"boundaries[{i}]", boundary)
            if boundary <= previous:
                raise ValueError(
                    "Argument `boundaries` must be strictly increasing "
                    "integers >= 1. Received: "
                    f"boundaries={list(boundaries)!r}"
                )
            checked.append(boundary)
            previous = boundary
        self.boundaries = checked
        self.name = name

    def __call__(self, step):
        step = _common.as_float_step(step)
        value = _common.evaluate(self.schedules[0], step)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:]):
            boundary = float(boundary)
            local = ops.maximum(step - boundary, 0.0)
            value = ops.where(
                step < boundary, value, _common.evaluate(schedule, local)
            )
        return value

    def get_config(self):
        return {
            "schedules": [_common.serialize_child(s) for s in self.schedules],
            "boundaries": list(self.boundaries),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedules"] = [
            _common.deserialize_child(s) for s in config["schedules"]
        ]
        return cls(**config)
