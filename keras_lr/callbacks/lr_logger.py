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
from keras_lr._core.snapshot import warn_if_not_finite

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
    callbacks) at each step that ran, and logs one row per optimizer
    update: with `steps_per_execution=k` (one batch hook per `k` steps)
    every step of the execution gets its row, since a schedule is a pure
    function of the step; under `gradient_accumulation_steps=k` (a batch
    hook per micro-batch, an update every `k`) a row per update, with the
    rate that update used (Keras evaluates a schedule at its count of
    micro-batches). The values are:

    - `learning_rate`: the optimizer's own rate (under an `LRMultiplier`,
      the rate the multipliers apply to);
    - `learning_rate/<group>`, under an `LRMultiplier`: the rate of each
      multiplier group, `learning_rate * multiplier`, as Lightning's
      `LearningRateMonitor` logs one rate per parameter group. A group is
      the keys that share one multiplier, named by its first key (`"head"`,
      or `"Conv1_and_45_more"` for the 46 keys `discriminative` gives one
      group), and `default` for the variables no key selects;
    - `effective_learning_rate`, for a learning-rate-free optimizer
      (`keras_lr.optimizers.Prodigy`, `DAdaptAdam`, `DoG`, `DoWG`,
      `Mechanic`): the step size it estimated (`d * lr`, DoG's `eta`, ...),
      read from its state, so known for the last step of an execution
      (the others of a `steps_per_execution > 1` execution get NaN); for
      Schedule-Free, the rate its step used, warmup included (a function of
      the step, logged for every step);
    - `momentum` (SGD, RMSprop) or `beta_1` (the Adam family): the value the
      step used, scheduled (a `keras_lr.optimizers.ScheduledMomentum`, or a
      schedule given to the optimizer) or constant; absent for optimizers
      that have neither;
    - `weight_decay`: the optimizer's `weight_decay` where it is set (AdamW,
      or any optimizer given one), as Lightning's `LearningRateMonitor`
      logs each group's; absent without.

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
        self._keras_lr_warned_weights = False

    def on_epoch_begin(self, epoch, logs=None):
        # Read here, not in on_train_begin: a BackupAndRestore anywhere in the
        # list has loaded its backup (and the step counter) by now.
        learning_rate = LearningRate(self.model.optimizer)
        # Counted as the schedule counts: batches (micro-batches under
        # gradient accumulation, where every k-th one is an update).
        self._batches = learning_rate.schedule_step(self.model)
        self._accumulation = learning_rate.accumulation_steps
        self._iteration = self._batches // self._accumulation
        self._last_batch = -1
        if not self._end_checked:
            self._end_checked = True
            params = self.params or {}  # a custom loop's CallbackList sets none
            learning_rate.warn_if_past_end(
                self.model, params.get("epochs"), params.get("steps"), epoch)

    def _values(self, step, state=True):
        """The values of update `step` (at schedule step `step`); `state`:
        also those read from the optimizer's state (the estimated step size
        of a learning-rate-free optimizer), known for the last step only."""
        optimizer = self.model.optimizer
        base = LearningRate(optimizer).value_at(step)
        values = {"learning_rate": base}
        for name, multiplier in _multiplier_groups(optimizer):
            values[f"learning_rate/{name}"] = base * _value_at(multiplier, step)
        momentum = _momentum(optimizer)
        if momentum is not None:
            name, value = momentum
            values[name] = _value_at(value, step)
        weight_decay = getattr(innermost_optimizer(optimizer), "weight_decay", None)
        if weight_decay is not None:
            values["weight_decay"] = float(weight_decay)
        owner = _effective_rate_owner(optimizer)
        if owner is not None:
            # A learning-rate-free optimizer: the step size it estimated (a
            # pure function of the step for Schedule-Free, else its state).
            if state or getattr(owner, "effective_rate_is_a_schedule", False):
                keras_private.jax_state_sync(self.model)
                values["effective_learning_rate"] = float(np.asarray(
                    ops.convert_to_numpy(owner.effective_learning_rate(step))))
            else:
                values["effective_learning_rate"] = float("nan")
        return values

    def on_train_batch_end(self, batch, logs=None):
        # Every step that ran since the last hook: with steps_per_execution
        # > 1 the hook comes once per execution, and under gradient
        # accumulation once per micro-batch, each k-th one an update.
        ran = batch - self._last_batch
        self._last_batch = batch
        first, self._batches = self._batches, self._batches + ran
        updates = [m for m in range(first, self._batches)
                   if (m + 1) % self._accumulation == 0]
        values = None
        for m in updates:
            update = (m + 1) // self._accumulation - 1
            self._iteration = update + 1
            if (update + 1) % self.frequency:
                continue
            # Update `update` ran at schedule step `m` (the k-th micro-batch).
            values = self._values(m, state=m == updates[-1])
            self._record(update, values)
        if values is not None and logs is not None:
            logs.update(values)

    def _record(self, step, values):
        self.history["step"].append(step)
        for name, value in values.items():
            # A key that appears later (another optimizer) is padded with NaN.
            self.history.setdefault(
                name, [float("nan")] * (len(self.history["step"]) - 1)).append(value)
        if self._writer is not None:
            with self._writer.as_default():
                for name, value in values.items():
                    self._tf.summary.scalar(name, value, step=step)

    def on_epoch_end(self, epoch, logs=None):
        warn_if_not_finite(self)
        if logs is not None and getattr(self, "_batches", 0) > 0:
            logs.update(self._values(self._batches - 1))
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
    # (callbacks sit below optimizers: an LRMultiplier is known by its
    # `default_multiplier`; every wrapper reads `variable_multipliers`.)
    while wrapper is not None and not hasattr(wrapper, "default_multiplier"):
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
