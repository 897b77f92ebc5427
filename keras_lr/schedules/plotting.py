"""Previews of schedules: their values over steps, and a matplotlib plot."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_lr import _optional, _validation
from keras_lr.schedules import _common

__all__ = ["plot_schedule", "schedule_values"]


def schedule_values(schedule, steps):
    """Evaluates a schedule (or a constant) at the given steps.

    Args:
        schedule: A `keras.optimizers.schedules.LearningRateSchedule` or a
            number.
        steps: Integer >= 1 (evaluates steps `0 .. steps - 1`) or a 1-D
            sequence of steps.

    Returns:
        A float NumPy array with one value per step.

    Raises:
        ValueError: if `steps` is not a positive integer or a 1-D sequence.
        TypeError: if `schedule` is neither a schedule nor a number.

    Example:

    ```python
    >>> values = keras_lr.schedules.schedule_values(
    ...     keras_lr.schedules.OneCycle(0.1, total_steps=100), 3)
    >>> [round(float(v), 4) for v in values]
    [0.004, 0.0043, 0.0051]

    ```
    """
    schedule = _common.check_schedule_or_number("schedule", schedule)
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        steps = np.arange(_validation.require_int("steps", steps, minimum=1))
    steps = np.asarray(steps)
    if steps.ndim != 1 or steps.size == 0:
        raise ValueError(
            "Argument `steps` must be a positive integer or a non-empty 1-D "
            f"sequence of steps. Received: steps with shape {steps.shape}"
        )
    if not isinstance(schedule, _common.LearningRateSchedule):
        return np.full(steps.shape, float(schedule), dtype="float32")
    try:
        values = ops.convert_to_numpy(schedule(steps.astype("int64")))
        if np.shape(values) == steps.shape:
            return values.astype("float32")
    except Exception:  # noqa: BLE001 - schedules written for scalar steps.
        pass
    return np.array(
        [float(ops.convert_to_numpy(schedule(int(s)))) for s in steps],
        dtype="float32",
    )


def plot_schedule(schedule, total_steps, ax=None, momentum=None, log_scale=False):
    """Plots a learning-rate schedule (and a momentum schedule beside it).

    Args:
        schedule: A `keras.optimizers.schedules.LearningRateSchedule` or a
            number.
        total_steps: Integer >= 1. Steps to draw, `0 .. total_steps - 1`.
        ax: Optional matplotlib `Axes` to draw on. Defaults to a new figure.
        momentum: Optional schedule of the momentum (e.g.
            `OneCycle.momentum_schedule()`), drawn on a second y axis.
        log_scale: Bool. Log-scaled y axis for the learning rate. Defaults to
            `False`.

    Returns:
        The matplotlib `Figure` (the figure of `ax` when one is given), as
        every `plot` in keras-lr returns; `figure.axes[0]` is the learning
        rate's axes.

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: if `total_steps` is not a positive integer.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.OneCycle(0.1, total_steps=1000)
    >>> figure = keras_lr.plot_schedule(
    ...     schedule, 1000, momentum=schedule.momentum_schedule())
    >>> figure.axes[0].get_xlabel()
    'step'

    ```

    Save it with `figure.savefig("one_cycle.png")`.
    """
    total_steps = _validation.require_int("total_steps", total_steps, minimum=1)
    _validation.require_bool("log_scale", log_scale)
    if momentum is not None:
        _validation.require_type(
            "momentum", momentum, keras.optimizers.schedules.LearningRateSchedule,
            "None or a schedule of the momentum (e.g. `OneCycle.momentum_schedule()`)")
    plt = _optional.import_optional("matplotlib.pyplot", "keras_lr.plot_schedule")
    steps = np.arange(total_steps)
    values = schedule_values(schedule, steps)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    name = getattr(schedule, "name", None) or type(schedule).__name__
    (lr_line,) = ax.plot(steps, values, color="tab:blue", label=f"learning rate ({name})")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_scale:
        ax.set_yscale("log")
    lines = [lr_line]
    if momentum is not None:
        twin = ax.twinx()
        (m_line,) = twin.plot(
            steps, schedule_values(momentum, steps), color="tab:orange",
            linestyle="--", label="momentum",
        )
        twin.set_ylabel("momentum")
        lines.append(m_line)
    ax.legend(lines, [line.get_label() for line in lines], loc="best")
    ax.grid(True, alpha=0.3)
    return ax.figure
