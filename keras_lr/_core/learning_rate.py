"""The learning rate of an optimizer: one owner for reading, scaling and swapping it.

Every keras-lr feature that reads or changes "the" learning rate goes
through `LearningRate(optimizer)`:

- it finds the optimizer that really holds the rate, through
  `keras.optimizers.LossScaleOptimizer` and keras-lr's wrappers
  (`inner_optimizer` chains);
- `value_at(step)` / `current()` evaluate it (a variable or any schedule);
- `multiply(factor)` changes it: a float learning rate stays the Keras
  variable it is (so `optimizer.learning_rate.value`, `.assign` and
  `float(...)` keep working, as with Keras's own `ReduceLROnPlateau`); a
  schedule is wrapped once in a `ControlledSchedule` whose `scale` changes;
- `replace(value)` puts another rate in place (the LR finder's sweep) and
  returns what was there, for `replace(previous)` to put it back.
"""

import contextlib
import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.schedule_base import LearningRateSchedule
from keras_lr._core.schedule_base import check_schedule_or_number
from keras_lr._core.schedule_base import deserialize_child
from keras_lr._core.schedule_base import evaluate
from keras_lr._core.schedule_base import serialize_child

__all__ = ["ControlledSchedule", "LearningRate", "innermost_optimizer", "schedule_end"]


def innermost_optimizer(optimizer):
    """The optimizer at the end of an `inner_optimizer` chain."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def strategy_scope(model):
    """The model's distribution-strategy scope, or a null context."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


@keras.saving.register_keras_serializable(package="keras_lr")
class ControlledSchedule(LearningRateSchedule, keras_private.KerasSaveable):
    """A learning-rate schedule times a scale held in a variable.

    `lr(step) = scale * schedule(step)`

    You rarely build one yourself: `keras_lr.callbacks.ReduceLROnPlateau`,
    `BoldDriver` and `DivergenceGuard` wrap an optimizer's schedule in one
    when they first change it, and change `scale`; the schedule keeps its
    shape (a reduced `OneCycle` is the same curve, lower). A float learning
    rate is never wrapped: the callbacks assign its variable, as Keras does.
    The scale is saved with the optimizer: in `.keras` files through
    `get_config()`, and in weights-only checkpoints (`BackupAndRestore`) as a
    child of the optimizer.

    Args:
        schedule: A float or a `LearningRateSchedule`: the learning rate
            before scaling.
        scale: Float > 0. The initial scale. Defaults to `1.0`.
        name: String. Defaults to `"ControlledSchedule"`.

    Raises:
        ValueError: if `scale` is not a finite number > 0.
        TypeError: if `schedule` is neither a number nor a schedule.

    Example:

    ```python
    >>> lr = keras_lr.schedules.ControlledSchedule(0.1)
    >>> _ = lr.scale.assign(0.5)
    >>> float(lr(0))
    0.05

    ```
    """

    def __init__(self, schedule, scale=1.0, name="ControlledSchedule", state=None):
        # `state` is accepted (and dropped) so that files saved by keras-lr
        # 0.1, whose callbacks kept their counters here, still load; a new
        # `fit` starts the counters again anyway.
        super().__init__()
        schedule = deserialize_child(schedule)
        self.schedule = check_schedule_or_number("schedule", schedule)
        scale = _validation.require_positive("scale", scale)
        self.name = name
        self.scale = keras.Variable(
            scale, dtype="float32", trainable=False, name="scale",
            aggregation="only_first_replica")

    def __call__(self, step):
        return ops.multiply(evaluate(self.schedule, step), self.scale)

    def get_config(self):
        return {
            "schedule": serialize_child(self.schedule),
            "scale": float(ops.convert_to_numpy(self.scale)),
            "name": self.name,
        }

    # KerasSaveable: written with the optimizer's weights (BackupAndRestore).
    def _obj_type(self):
        # Keras accepts a fixed set of types; "Metric" (a holder of state
        # variables) only decides which attributes are skipped when walking.
        return "Metric"

    def save_own_variables(self, store):
        store["scale"] = np.asarray(ops.convert_to_numpy(self.scale))

    def load_own_variables(self, store):
        if "scale" in set(store.keys()):
            self.scale.assign(store["scale"])

    @classmethod
    def install(cls, model):
        """Wraps the schedule of `model`'s optimizer once; returns the wrapper.

        Args:
            model: A compiled `keras.Model` whose learning rate is a schedule.

        Returns:
            The `ControlledSchedule` (the same object on later calls).

        Raises:
            ValueError: if the model has no optimizer.
            TypeError: if the learning rate is not a schedule.
        """
        return LearningRate.of_model(model).controlled(model)


def schedule_end(schedule):
    """The step from which `schedule` holds its final value, or None."""
    inner = getattr(schedule, "schedule", None)
    if isinstance(schedule, ControlledSchedule):
        return schedule_end(inner)
    if hasattr(schedule, "warmup_steps") and inner is not None:  # Warmup
        end = schedule_end(inner)
        if end is None:
            return None
        return end + (schedule.warmup_steps if schedule.local_step else 0)
    schedules = getattr(schedule, "schedules", None)
    if isinstance(schedules, (list, tuple)) and hasattr(schedule, "boundaries"):
        end = schedule_end(schedules[-1])  # Join
        return None if end is None else end + schedule.boundaries[-1]
    total = getattr(schedule, "total_steps", None)
    if isinstance(total, int) and isinstance(schedule, LearningRateSchedule):
        return total - 1
    return None


class LearningRate:
    """The learning rate of `optimizer`, wherever in a wrapper chain it is.

    Args:
        optimizer: A Keras optimizer (possibly a wrapper).
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.owner = innermost_optimizer(optimizer)

    @classmethod
    def of_model(cls, model):
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError(
                "The model has no optimizer: call `model.compile()` before "
                "`fit` with a keras-lr learning-rate callback.")
        return cls(optimizer)

    # ---- reading -----------------------------------------------------------
    @property
    def slot(self):
        """What the optimizer reads its rate from: a variable or a schedule."""
        return keras_private.learning_rate_slot(self.owner)

    def is_variable(self):
        return isinstance(self.slot, keras.Variable)

    def value_at(self, step):
        """The learning rate at `step`, as a Python float."""
        value = self.slot
        if isinstance(value, LearningRateSchedule) or (
                callable(value) and not isinstance(value, keras.Variable)):
            value = value(step)
        return float(np.asarray(ops.convert_to_numpy(value)))

    def step(self, model=None):
        """The optimizer's `iterations` now (synced first on JAX): the
        number of updates so far."""
        if model is not None:
            keras_private.jax_state_sync(model)
        return int(ops.convert_to_numpy(self.owner.iterations))

    @property
    def accumulation_steps(self):
        """Micro-batches per update (`gradient_accumulation_steps`, or 1)."""
        return int(getattr(self.owner, "gradient_accumulation_steps", None) or 1)

    def schedule_step(self, model=None):
        """The step the schedule is evaluated at next: Keras calls it with its
        count of `apply` calls, which is `iterations` without gradient
        accumulation and the count of micro-batches with it."""
        if model is not None:
            keras_private.jax_state_sync(model)
        return int(ops.convert_to_numpy(keras_private.schedule_step(self.owner)))

    def current(self, model=None):
        """The rate the next step will use."""
        return self.value_at(self.schedule_step(model))

    def controls_itself(self):
        """True when a wrapper in the chain learns the rate (Hypergradient):
        no callback may change it then."""
        optimizer = self.optimizer
        while optimizer is not None:
            if getattr(optimizer, "learns_learning_rate", False):
                return optimizer
            optimizer = getattr(optimizer, "inner_optimizer", None)
        return None

    def estimates_step_size(self):
        """The optimizer of the chain that estimates its own step size (a
        learning-rate-free optimizer, `Mechanic`), or None: its
        `learning_rate` is then a multiplier of that estimate."""
        optimizer = self.optimizer
        while optimizer is not None:
            if callable(getattr(optimizer, "effective_learning_rate", None)):
                return optimizer
            optimizer = getattr(optimizer, "inner_optimizer", None)
        return None

    def schedule_end(self):
        """The step from which the schedule holds its final value (one-cycle,
        WSD, a `Warmup` or `Join` ending in one, scaled or not), or None
        when it has no end."""
        return schedule_end(self.slot)

    def warn_if_past_end(self, model, epochs, steps_per_epoch, epoch=0):
        """Warns once (per schedule) when training from `epoch` to `epochs`
        with `steps_per_epoch` steps runs past the schedule's end, where it
        only holds its final value."""
        end = self.schedule_end()
        if end is None or not steps_per_epoch or not epochs:
            return
        schedule = self.slot
        if getattr(schedule, "_keras_lr_warned_end", False):
            return
        # `steps_per_epoch` counts batches, as the schedule's step does.
        last = (self.schedule_step(model) + (int(epochs) - int(epoch)) * int(steps_per_epoch)
                - 1)
        if last > end:
            object.__setattr__(schedule, "_keras_lr_warned_end", True)
            warnings.warn(
                f"The learning-rate schedule ends at step {end}, but this `fit` "
                f"runs to step {last} ({epochs} epochs of {steps_per_epoch} "
                f"steps): the last {last - end} steps train at its final "
                f"value, {self.value_at(end):.3g}. Size the schedule to the run "
                "(`OneCycle(..., epochs=..., steps_per_epoch=...)`, or "
                "`keras_lr.fit_one_cycle`, which sizes it from `fit`'s "
                "arguments).", stacklevel=3)

    # ---- changing ----------------------------------------------------------
    def replace(self, value):
        """Puts `value` in the slot; returns what was there."""
        previous = self.slot
        keras_private.set_learning_rate_slot(self.owner, value)
        return previous

    def controlled(self, model):
        """The `ControlledSchedule` around a schedule rate (installed once).

        The owner keeps a reference as a saveable child, so weights-only
        saves (BackupAndRestore) include its scale.
        """
        current = self.slot
        if isinstance(current, ControlledSchedule):
            controlled = current
        elif isinstance(current, LearningRateSchedule):
            with strategy_scope(model):
                controlled = ControlledSchedule(current)
            self.replace(controlled)
            # The compiled step was traced with the old rate (also mid-fit).
            model.make_train_function(force=True)
        else:
            raise TypeError(
                "keras-lr's learning-rate callbacks need a float learning "
                "rate or a `LearningRateSchedule`. Received a "
                f"{type(current).__name__}: {current!r}")
        object.__setattr__(self.owner, "_keras_lr_controlled_schedule", controlled)
        return controlled

    def multiply(self, model, factor, min_lr=0.0, max_lr=math.inf):
        """Scales the rate by `factor`, keeping its current value in bounds.

        Returns:
            `(old, new)`: the rate at the current step before and after.
        """
        old = self.current(model)
        target = min(max(old * factor, min_lr), max_lr)
        if not old > 0 or target == old:
            return old, old
        if self.is_variable():
            self.slot.assign(target)  # the next JAX step re-reads it
        else:
            installed = isinstance(self.slot, ControlledSchedule)
            controlled = self.controlled(model)  # traces the step again if new
            scale = float(ops.convert_to_numpy(controlled.scale))
            controlled.scale.assign(scale * target / old)
            if installed and keras.backend.backend() == "jax":
                # A schedule's variable is a constant of the traced JAX step.
                model.make_train_function(force=True)
        return old, self.current(model)
