"""Warmup in front of any schedule or constant learning rate."""

import math

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.schedules import _common

__all__ = ["Warmup"]

_SHAPES = ("linear", "cosine", "exponential")


@keras.saving.register_keras_serializable(package="keras_lr")
class Warmup(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """Warms the learning rate up to any schedule (or constant), continuously.

    For the first `warmup_steps` steps the learning rate goes from
    `initial_learning_rate` to `target`, the value the wrapped schedule takes
    where the warmup ends, so the curve has no jump. With `p = step /
    warmup_steps`:

    ```
    linear:      lr = initial + (target - initial) * p
    cosine:      lr = initial + (target - initial) * (1 - cos(pi * p)) / 2
    exponential: lr = initial * (target / initial) ** p    # initial > 0
    ```

    From step `warmup_steps` on, the wrapped schedule takes over. With
    `local_step=True` (the default, as `keras_lr.schedules.Join` and optax's
    `join_schedules`) it sees `step - warmup_steps`, so a `OneCycle(...,
    total_steps=N)` runs its whole cycle after the warmup and
    `target = schedule(0)`. With `local_step=False` it sees the global step
    (as Hugging Face's warmup helpers), the first `warmup_steps` of its curve
    are replaced by the warmup, and `target = schedule(warmup_steps)`.

    Args:
        schedule: A `keras.optimizers.schedules.LearningRateSchedule` or a
            float >= 0: what follows the warmup.
        warmup_steps: Integer >= 1. Length of the warmup in optimizer steps.
        initial_learning_rate: Float >= 0 (> 0 for `"exponential"`). The
            learning rate at step 0. Defaults to `0.0`.
        shape: `"linear"`, `"cosine"` or `"exponential"`. Defaults to
            `"linear"`.
        local_step: Bool. Whether the wrapped schedule counts its steps from
            the end of the warmup (`True`) or from 0 (`False`). Defaults to
            `True`.
        name: String. Defaults to `"Warmup"`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range, e.g. `shape="exponential"`
            with `initial_learning_rate=0`.
        TypeError: if `schedule` is neither a schedule nor a number.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.Warmup(
    ...     keras.optimizers.schedules.CosineDecay(0.1, decay_steps=900),
    ...     warmup_steps=100)
    >>> optimizer = keras.optimizers.Adam(learning_rate=schedule)

    ```
    """

    def __init__(
        self,
        schedule,
        warmup_steps,
        initial_learning_rate=0.0,
        shape="linear",
        local_step=True,
        name="Warmup",
    ):
        super().__init__()
        self.schedule = _common.check_schedule_or_number("schedule", schedule)
        self.warmup_steps = _validation.require_int(
            "warmup_steps", warmup_steps, minimum=1
        )
        self.initial_learning_rate = _validation.require_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.shape = _validation.require_one_of("shape", shape, _SHAPES)
        if shape == "exponential" and self.initial_learning_rate <= 0:
            raise ValueError(
                "Argument `initial_learning_rate` must be > 0 when "
                "shape='exponential' (the curve is geometric). "
                f"Received: initial_learning_rate={initial_learning_rate!r}"
            )
        self.local_step = _validation.require_bool("local_step", local_step)
        self.name = name

    def __call__(self, step):
        step = _common.as_float_step(step)
        warmup = float(self.warmup_steps)
        offset = warmup if self.local_step else 0.0
        target = _common.evaluate(self.schedule, warmup - offset)
        after = _common.evaluate(self.schedule, ops.maximum(step - offset, 0.0))
        p = ops.clip(step / warmup, 0.0, 1.0)
        initial = self.initial_learning_rate
        if self.shape == "linear":
            ramp = initial + (target - initial) * p
        elif self.shape == "cosine":
            ramp = initial + (target - initial) * ops.square(
                ops.sin((0.5 * math.pi) * p)
            )
        else:
            ramp = initial * ops.power(target / initial, p)
        return ops.where(step < warmup, ramp, after)

    def get_config(self):
        return {
            "schedule": _common.serialize_child(self.schedule),
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "shape": self.shape,
            "local_step": self.local_step,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = _common.deserialize_child(config["schedule"])
        return cls(**config)
