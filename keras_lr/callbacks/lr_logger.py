"""`LearningRateLogger`: the learning rates (and momentum) each step really used."""

import os
import re

import keras
import numpy as np
from keras import ops

from keras_lr import _optional
from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.learning_rate import innermost_optimizer
from keras_lr._core.schedule_base import LearningRateSchedule

__all__ = ["LearningRateLogger"]


def _value_at(value, step):
    if isinstance(value, LearningRateSchedule) or (
            callable(value) and not isinstance(value, keras.Variable)):
        value = value(step)
    return float(np.asarray(ops.convert_to_numpy(value)))


@keras.saving.register_keras_serializable(package="keras_lr")
class LearningRateLogger(keras.callbacks.Callback):
    """Logs the learning rate each step used, into `logs` and TensorBoard.

    After every batch, evaluates the optimizer's learning rate (a float, any
    `LearningRateSchedule`, including one scaled by keras-lr's plateau
    callbacks) at the step that just ran, and logs:

    - `learning_rate`: the optimizer's own rate (under an `LRMultiplier`,
      the rate the multipliers apply to);
    - `learning_rate/<group>`, under an `LRMultiplier`: the rate of each
      multiplier group, `learning_rate * multiplier`, as Lightning's
      `LearningRateMonitor` logs one rate per parameter group. A group is
      the keys that share one multiplier, named by its first key (`"head"`,
      or `"Conv1_and_45_more"` for the 46 keys `discriminative` gives one
      group), and `default` for the variables no key selects;
    - `effective_learning_rate`, for a learning-rate-free optimizer
      (`keras_lr.optimizers.Prodigy`, `DAdaptAdam`, `DoG`): the step size it
      estimated (`d * lr`, or DoG's `eta`);
    - `momentum` (SGD, RMSprop) or `beta_1` (the Adam family): the value the
      step used, scheduled (a `keras_lr.optimizers.ScheduledMomentum`, or a
      schedule given to the optimizer) or constant; absent for optimizers
      that have neither.

    The values go into the batch and epoch `logs` (so `History`, a
    `keras.callbacks.TensorBoard` listed after this callback, and progress
    bars see them), into `self.history`, and, with `log_dir`, to TensorBoard
    against the optimizer step, in `<log_dir>/train`: the run that
    `keras.callbacks.TensorBoard(log_dir)` writes its training scalars to,
    so that with the same `log_dir` both appear as one run.

    It runs Python each batch (about the cost of a schedule evaluated
    eagerly); use `frequency` to log every N steps on a fast model.

    Args:
        log_dir: Optional TensorBoard log directory (needs TensorFlow for
            `tf.summary`); the values are written to `<log_dir>/train`.
            Defaults to `None`.
        frequency: Integer >= 1. Log every N steps. Defaults to `1`.

    Example:

    ```python
    logger = keras_lr.callbacks.LearningRateLogger(log_dir="logs")
    model.fit(x, y, epochs=5,
              callbacks=[logger, keras.callbacks.TensorBoard("logs")])
    steps, lrs = logger.history["step"], logger.history["learning_rate"]
    ```
    """

    def __init__(self, log_dir=None, frequency=1):
        super().__init__()
        if log_dir is not None and not isinstance(log_dir, (str, bytes)) and not hasattr(
                log_dir, "__fspath__"):
            raise ValueError(f"Argument `log_dir` must be a path or None. Received: log_dir={log_dir!r}")
        self.log_dir = log_dir
        self.frequency = _validation.require_int("frequency", frequency, minimum=1)
        self.history = {"step": [], "learning_rate": []}
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.log_dir is not None and self._writer is None:
            self._tf = _optional.import_optional(
                "tensorflow", "LearningRateLogger(log_dir=...)")
            self._writer = self._tf.summary.create_file_writer(
                os.path.join(os.fspath(self.log_dir), "train"))
        self._end_checked = False

    def on_epoch_begin(self, epoch, logs=None):
        # Read here, not in on_train_begin: a BackupAndRestore anywhere in the
        # list has loaded its backup (and the step counter) by now.
        learning_rate = LearningRate(self.model.optimizer)
        self._iteration = learning_rate.step(self.model)
        self._last_batch = -1
        if not self._end_checked:
            self._end_checked = True
            params = self.params or {}  # a custom loop's CallbackList sets none
            learning_rate.warn_if_past_end(
                self.model, params.get("epochs"), params.get("steps"), epoch)

    def _values(self, step):
        optimizer = self.model.optimizer
        base = LearningRate(optimizer).value_at(step)
        values = {"learning_rate": base}
        for name, multiplier in _multiplier_groups(optimizer):
            values[f"learning_rate/{name}"] = base * _value_at(multiplier, step)
        momentum = _momentum(optimizer)
        if momentum is not None:
            name, value = momentum
            values[name] = _value_at(value, step)
        owner = _effective_rate_owner(optimizer)
        if owner is not None:
            # A learning-rate-free optimizer: the step size it estimated.
            keras_private.jax_state_sync(self.model)
            values["effective_learning_rate"] = float(np.asarray(
                ops.convert_to_numpy(owner.effective_learning_rate(step))))
        return values

    def on_train_batch_end(self, batch, logs=None):
        steps = batch - self._last_batch
        self._last_batch = batch
        before = self._iteration
        self._iteration += steps
        if self._iteration // self.frequency == before // self.frequency:
            return
        step = self._iteration - 1  # the step that just ran used lr(step)
        values = self._values(step)
        self.history["step"].append(step)
        for name, value in values.items():
            # A key that appears later (another optimizer) is padded with NaN.
            self.history.setdefault(
                name, [float("nan")] * (len(self.history["step"]) - 1)).append(value)
        if logs is not None:
            logs.update(values)
        if self._writer is not None:
            with self._writer.as_default():
                for name, value in values.items():
                    self._tf.summary.scalar(name, value, step=step)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and getattr(self, "_iteration", 0) > 0:
            logs.update(self._values(self._iteration - 1))
        if self._writer is not None:
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self):
        return {"log_dir": None if self.log_dir is None else os.fspath(self.log_dir),
                "frequency": self.frequency}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _tag(key):
    """A TensorBoard-safe name for a multiplier key (a regex may have any
    character)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", key)


def _multiplier_groups(optimizer):
    """`[(name, multiplier)]`, one per distinct multiplier of the
    `LRMultiplier` in the chain (empty without one)."""
    wrapper = optimizer
    while wrapper is not None and not hasattr(wrapper, "variable_multipliers"):
        wrapper = getattr(wrapper, "inner_optimizer", None)
    if wrapper is None:
        return []
    groups = {}
    for key, value in wrapper.multipliers.items():
        ident = ("schedule", id(value)) if isinstance(value, LearningRateSchedule) else (
            "float", float(value))
        groups.setdefault(ident, [value, []])[1].append(key)
    named = []
    for value, keys in groups.values():
        name = _tag(keys[0]) + (f"_and_{len(keys) - 1}_more" if len(keys) > 1 else "")
        named.append((name, value))
    named.append(("default", wrapper.default_multiplier))
    return named


def _momentum(optimizer):
    """`(name, value or schedule)`: `momentum` or `beta_1` as the step uses
    it, or None for an optimizer with neither."""
    wrapper = optimizer
    while wrapper is not None:
        schedule = getattr(wrapper, "momentum_schedule", None)
        if isinstance(schedule, LearningRateSchedule):
            owner = innermost_optimizer(optimizer)
            return ("momentum" if hasattr(owner, "momentum") else "beta_1"), schedule
        wrapper = getattr(wrapper, "inner_optimizer", None)
    owner = innermost_optimizer(optimizer)
    for name in ("momentum", "beta_1"):
        value = getattr(owner, name, None)
        if isinstance(value, LearningRateSchedule) or (
                isinstance(value, (int, float)) and not isinstance(value, bool)):
            return name, value
    return None


def _effective_rate_owner(optimizer):
    """The optimizer of the chain that estimates its step size (a
    learning-rate-free optimizer, or `Mechanic` around another), if any."""
    while optimizer is not None:
        if hasattr(optimizer, "effective_learning_rate"):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None
