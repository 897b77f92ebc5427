"""What the learning-rate control callbacks share.

A controller callback installs a `ControlledSchedule` on the model's
optimizer when it gets the model (before `BackupAndRestore` loads a backup),
keeps its counters in that schedule's state variables, and changes the
learning rate by changing the schedule's scale. It watches either an epoch
metric (`frequency="epoch"`) or the mean training loss over the last N
batches (`frequency=N`), read from the model's loss tracker (`logs["loss"]`
at a batch is the running epoch mean, not the recent loss).
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_lr import _validation
from keras_lr.finder.state import learning_rate_owner
from keras_lr.finder.state import sync_jax_state
from keras_lr.schedules.controlled import ControlledSchedule


def validate_frequency(frequency):
    if frequency == "epoch":
        return frequency
    if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
        raise ValueError(
            'Argument `frequency` must be "epoch" or an integer >= 1 (a number '
            f"of batches). Received: frequency={frequency!r}")
    return frequency


def validate_mode(mode):
    return _validation.require_one_of("mode", mode, ("auto", "min", "max"))


def is_min_mode(mode, monitor):
    """Keras's rule: `"auto"` maximizes a monitor whose name contains "acc"."""
    return mode == "min" or (mode == "auto" and "acc" not in monitor)


class LRController(keras.callbacks.Callback):
    """Base of the callbacks that change the LR through a `ControlledSchedule`."""

    # Prefix of the state variables; subclasses set it.
    state_prefix = "controller"

    def __init__(self, monitor, frequency, verbose):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"Argument `monitor` must be a metric name. Received: monitor={monitor!r}")
        self.monitor = monitor
        self.frequency = validate_frequency(frequency)
        if self.frequency != "epoch" and monitor != "loss":
            raise ValueError(
                "Monitoring every N batches watches the training loss: use "
                f'`monitor="loss"` with an integer `frequency`. Received: '
                f"monitor={monitor!r}, frequency={frequency!r}")
        self.verbose = _validation.require_one_of("verbose", verbose, (0, 1, True, False))
        # Watching epochs, the batch hook does nothing: declare it safe for
        # Keras's asynchronous batch dispatch, or a mere override of
        # `on_train_batch_end` makes the whole training loop wait on every
        # batch (measured: +12% step time, benchmarks/control_overhead.py).
        self.async_safe = self.frequency == "epoch"
        self.controlled = None
        self._warned_missing = False
        self._window = None

    # ---- state, kept in the ControlledSchedule's variables ----
    def _defaults(self):
        """Dict of state name -> initial value; subclasses extend it."""
        return {"batches": 0.0}

    def _key(self, name):
        return f"{self.state_prefix}[{self.monitor}]/{name}"

    def _get(self, name):
        return float(ops.convert_to_numpy(self.controlled.state[self._key(name)]))

    def _set(self, name, value):
        self.controlled.state[self._key(name)].assign(float(value))

    def set_model(self, model):
        super().set_model(model)
        # Before any callback's on_train_begin: BackupAndRestore then loads
        # the state variables together with the optimizer's.
        if getattr(model, "optimizer", None) is not None:
            self.controlled = ControlledSchedule.install(model)
            for name, value in self._defaults().items():
                self.controlled.add_state(self._key(name), value)

    # ---- learning rate ----
    def _step(self):
        sync_jax_state(self.model)
        return int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def current_learning_rate(self):
        """The learning rate the next step will use (float)."""
        owner = learning_rate_owner(self.model.optimizer)
        return float(ops.convert_to_numpy(owner._learning_rate(self._step())))

    def _multiply(self, factor, min_lr=0.0, max_lr=math.inf):
        """Scales the LR by `factor`, keeping the current LR in the bounds.

        Returns `(old_lr, new_lr)` at the current step.
        """
        old = self.current_learning_rate()
        target = min(max(old * factor, min_lr), max_lr)
        scale = float(ops.convert_to_numpy(self.controlled.scale))
        if old > 0:
            self.controlled.scale.assign(scale * target / old)
            self.controlled.commit(self.model)
        return old, self.current_learning_rate()

    # ---- the monitored value ----
    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"{type(self).__name__}: the monitored metric "
                    f"`{self.monitor}` is not in the logs; available metrics: "
                    f"{sorted(logs or {})}. The learning rate is left alone.",
                    stacklevel=2)
            return None
        return float(np.asarray(value))

    def _loss_totals(self):
        sync_jax_state(self.model)
        tracker = self.model._loss_tracker
        return (float(ops.convert_to_numpy(tracker.total)),
                float(ops.convert_to_numpy(tracker.count)))

    def on_epoch_begin(self, epoch, logs=None):
        if self.frequency != "epoch":
            self._window = (0.0, 0.0)  # the loss tracker restarts each epoch
            self._last_batch = -1
            # Read once an epoch (after BackupAndRestore has loaded it); the
            # batch hook only writes it.
            self._batches = self._get("batches")

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency == "epoch":
            return
        # With steps_per_execution > 1 the hook runs once per execution and
        # `batch` is the execution's last step.
        before = self._batches
        self._batches = before + batch - self._last_batch
        self._last_batch = batch
        self._set("batches", self._batches)
        if self._batches // self.frequency == before // self.frequency:
            return
        total, count = self._loss_totals()
        start_total, start_count = self._window
        self._window = (total, count)
        if count > start_count:
            self.check((total - start_total) / (count - start_count))

    def on_epoch_end(self, epoch, logs=None):
        # As Keras's ReduceLROnPlateau: the LR the epoch used, before the check.
        if logs is not None and self.controlled is not None:
            logs["learning_rate"] = self.current_learning_rate()
        if self.frequency == "epoch":
            value = self._value(logs)
            if value is not None:
                self.check(value)

    def check(self, value):
        """Applies the callback's rule to one monitored value."""
        raise NotImplementedError

    def _say(self, message):
        if self.verbose:
            print(f"{type(self).__name__}: {message}")


class SmoothedLRController(LRController):
    """An `LRController` with a warmup and a smoothed monitored value.

    The check count and the moving average are state variables, so a resumed
    run continues them.
    """

    def __init__(self, monitor, frequency, verbose, warmup, smoothing):
        super().__init__(monitor, frequency, verbose)
        self.warmup = _validation.require_int("warmup", warmup, minimum=0)
        self.smoothing = _validation.require_number(
            "smoothing", smoothing, minimum=0, maximum=1, max_inclusive=False)

    def _defaults(self):
        return dict(super()._defaults(), checks=0.0, average=0.0)

    def _count_and_smooth(self, value):
        """Counts one check; returns `(checks, value)`, the value smoothed.

        With `smoothing` beta: the bias-corrected moving average
        `average / (1 - beta ** checks)`.
        """
        checks = self._get("checks") + 1
        self._set("checks", checks)
        if self.smoothing:
            average = self.smoothing * self._get("average") + (1 - self.smoothing) * value
            self._set("average", average)
            value = average / (1 - self.smoothing ** checks)
        return checks, value
