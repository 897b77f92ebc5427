"""The learning-rate sweep of the range test, as an in-graph schedule."""

import math

import keras
import numpy as np
from keras import ops

from keras_lr import _validation

__all__ = ["LRSweep", "sweep_values", "validate_finder_args", "validate_sweep",
           "validate_validation_data"]

SWEEP_MODES = ("exponential", "linear")
DEFAULT_NUM_STEPS = 300
DEFAULT_SMOOTHING = 0.9
DEFAULT_DIVERGE_THRESHOLD = 4.0


def validate_sweep(start_lr, end_lr, num_steps, mode):
    start_lr = _validation.require_positive("start_lr", start_lr)
    end_lr = _validation.require_positive("end_lr", end_lr)
    if not end_lr > start_lr:
        raise ValueError(
            "Argument `end_lr` must be > `start_lr`. "
            f"Received: start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    num_steps = _validation.require_int("num_steps", num_steps, minimum=2)
    mode = _validation.require_one_of("mode", mode, SWEEP_MODES)
    return start_lr, end_lr, num_steps, mode


def sweep_values(start_lr, end_lr, num_steps, mode, local_steps):
    """Learning rates of the sweep at the given local steps (NumPy, float64)."""
    t = np.clip(np.asarray(local_steps, dtype="float64") / (num_steps - 1), 0.0, 1.0)
    if mode == "exponential":
        return start_lr * (end_lr / start_lr) ** t
    return start_lr + (end_lr - start_lr) * t


def validate_finder_args(start_lr, end_lr, num_steps, mode, smoothing,
                         diverge_threshold):
    start_lr, end_lr, num_steps, mode = validate_sweep(start_lr, end_lr, num_steps, mode)
    smoothing = _validation.require_number(
        "smoothing", smoothing, minimum=0, maximum=1, max_inclusive=False)
    if diverge_threshold is not None:
        diverge_threshold = _validation.require_number(
            "diverge_threshold", diverge_threshold, minimum=1, min_inclusive=False)
    return start_lr, end_lr, num_steps, mode, smoothing, diverge_threshold


def validate_validation_data(data):
    """`None`, `(x, y)`, `(x, y, sample_weight)` or a dataset of batches."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)):
        if len(data) not in (2, 3):
            raise ValueError(
                "Argument `validation_data` must be `(x_val, y_val)`, `(x_val, y_val, "
                f"sample_weight)` or a dataset. Received a {type(data).__name__} of "
                f"{len(data)} items")
        return data
    if hasattr(data, "__array__") or isinstance(data, (dict, str, bytes, int, float)):
        raise ValueError(
            "Argument `validation_data` must be `(x_val, y_val)`, `(x_val, y_val, "
            f"sample_weight)` or a dataset. Received: validation_data of type "
            f"{type(data).__name__}")
    if not hasattr(data, "__iter__") and not hasattr(data, "__getitem__"):
        raise ValueError(
            "Argument `validation_data` must be `(x_val, y_val)`, `(x_val, y_val, "
            f"sample_weight)` or a dataset. Received: validation_data={data!r}")
    return data


@keras.saving.register_keras_serializable(package="keras_lr")
class LRSweep(keras.optimizers.schedules.LearningRateSchedule):
    """The range test's learning rate: `start_lr` to `end_lr` in `num_steps`.

    `lr = start_lr * (end_lr / start_lr) ** t` (exponential) or
    `start_lr + (end_lr - start_lr) * t` (linear), with
    `t = (step - first_step) / (num_steps - 1)` clipped to `[0, 1]`. The LR
    finder puts it in place of the optimizer's learning rate for the sweep, so
    the sweep runs inside the compiled step (also with `steps_per_execution >
    1` and on JAX), then restores the original.

    With `accumulation_steps=k` (an optimizer with
    `gradient_accumulation_steps=k`, which Keras calls with its count of
    micro-batches) the rate moves once per real update:
    `t = floor((step - first_step) / k) / (num_steps - 1)`.

    Args:
        start_lr: Float > 0. Learning rate of the first sweep step.
        end_lr: Float > `start_lr`. Learning rate of the last sweep step.
        num_steps: Integer >= 2. Steps (optimizer updates) of the sweep.
        mode: `"exponential"` or `"linear"`. Defaults to `"exponential"`.
        first_step: Integer >= 0. The step the schedule is called with at the
            first sweep step (`optimizer.iterations`; under gradient
            accumulation Keras's count of micro-batches). Defaults to `0`.
        accumulation_steps: Integer >= 1. Micro-batches per update. Defaults
            to `1`.
        name: String. Defaults to `"LRSweep"`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    >>> sweep = keras_lr.finder.LRSweep(1e-7, 10.0, num_steps=300)
    >>> [float(f"{float(sweep(s)):.3g}") for s in (0, 299, 1000)]
    [1e-07, 10.0, 10.0]

    ```
    """

    def __init__(self, start_lr, end_lr, num_steps, mode="exponential",
                 first_step=0, accumulation_steps=1, name="LRSweep"):
        super().__init__()
        (self.start_lr, self.end_lr, self.num_steps, self.mode) = validate_sweep(
            start_lr, end_lr, num_steps, mode
        )
        self.first_step = _validation.require_int("first_step", first_step, minimum=0)
        self.accumulation_steps = _validation.require_int(
            "accumulation_steps", accumulation_steps, minimum=1)
        self.name = name

    def __call__(self, step):
        local = ops.cast(step, "float32") - float(self.first_step)
        if self.accumulation_steps > 1:
            local = ops.floor(local / float(self.accumulation_steps))
        t = ops.clip(local / float(self.num_steps - 1), 0.0, 1.0)
        if self.mode == "exponential":
            return self.start_lr * ops.exp(t * math.log(self.end_lr / self.start_lr))
        return self.start_lr + (self.end_lr - self.start_lr) * t

    def values(self, local_steps):
        """The sweep's learning rates at local steps, in float64 NumPy."""
        return sweep_values(self.start_lr, self.end_lr, self.num_steps, self.mode,
                            local_steps)

    def get_config(self):
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "first_step": self.first_step,
            "accumulation_steps": self.accumulation_steps,
            "name": self.name,
        }
