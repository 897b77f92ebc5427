"""`LearningRateLogger`: the learning rate (and momentum) each step really used."""

import keras
import numpy as np
from keras import ops

from keras_lr import _optional
from keras_lr import _validation
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
    callbacks) at the step that just ran, and, when the momentum is
    scheduled (a `keras_lr.optimizers.ScheduledMomentum`, or `momentum` /
    `beta_1` given as a schedule), the momentum.
    The values go into the batch and epoch `logs` (so `History`, a
    `keras.callbacks.TensorBoard` listed after this callback, and progress
    bars see them), into `self.history`, and, with `log_dir`, straight to
    TensorBoard as `learning_rate` and `momentum` against the optimizer step.

    It runs Python each batch (about the cost of a schedule evaluated
    eagerly); use `frequency` to log every N steps on a fast model.

    Args:
        log_dir: Optional TensorBoard log directory (needs TensorFlow for
            `tf.summary`). Defaults to `None`.
        frequency: Integer >= 1. Log every N steps. Defaults to `1`.

    Example:

    ```python
    logger = keras_lr.callbacks.LearningRateLogger(log_dir="logs/lr")
    model.fit(x, y, epochs=5, callbacks=[logger])
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
        self.history = {"step": [], "learning_rate": [], "momentum": []}
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.log_dir is not None and self._writer is None:
            self._tf = _optional.import_optional(
                "tensorflow", "LearningRateLogger(log_dir=...)")
            self._writer = self._tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_begin(self, epoch, logs=None):
        # Read here, not in on_train_begin: a BackupAndRestore anywhere in the
        # list has loaded its backup (and the step counter) by now.
        self._iteration = LearningRate(self.model.optimizer).step(self.model)
        self._last_batch = -1

    def _values(self, step):
        values = {"learning_rate": LearningRate(self.model.optimizer).value_at(step)}
        momentum = _momentum_schedule(self.model.optimizer)
        if momentum is not None:
            values["momentum"] = _value_at(momentum, step)
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
        self.history["learning_rate"].append(values["learning_rate"])
        self.history["momentum"].append(values.get("momentum", float("nan")))
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
        return {"log_dir": None if self.log_dir is None else str(self.log_dir),
                "frequency": self.frequency}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _momentum_schedule(optimizer):
    """A `ScheduledMomentum` wrapper's schedule, or a schedule given as
    `momentum`/`beta_1`; None when the momentum is constant."""
    wrapper = optimizer
    while wrapper is not None:
        schedule = getattr(wrapper, "momentum_schedule", None)
        if isinstance(schedule, LearningRateSchedule):
            return schedule
        wrapper = getattr(wrapper, "inner_optimizer", None)
    owner = innermost_optimizer(optimizer)
    for name in ("momentum", "beta_1"):
        value = getattr(owner, name, None)
        if isinstance(value, LearningRateSchedule):
            return value
    return None
