"""What the learning-rate control callbacks share.

A controller owns a `keras_lr._core.callback_state.CallbackState` (its
counters, saved with the optimizer), changes the learning rate through
`keras_lr._core.learning_rate.LearningRate` (a float rate stays a Keras
variable; a schedule is scaled), and watches either an epoch metric
(`frequency="epoch"`) or the mean training loss of the last N batches
(`frequency=N`, read by `keras_lr._core.batch_loss.RecentLoss`).

The order of callbacks: a controller must stand before
`keras.callbacks.BackupAndRestore` and `ModelCheckpoint` (it says so at the
start of training otherwise); then a new `fit` starts its counters again, as
Keras's callbacks do, before `BackupAndRestore` loads the counters of an
interrupted run.
"""

import warnings

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import callback_order
from keras_lr._core import keras_private
from keras_lr._core.batch_loss import RecentLoss
from keras_lr._core.callback_state import StateRegistry
from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.snapshot import warn_if_not_finite

__all__ = ["LRController", "SmoothedLRController", "is_min_mode", "validate_frequency",
           "validate_mode"]


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


def is_min_mode(mode, monitor, model=None):
    """Whether to minimize `monitor`; Keras 3's rule for `"auto"`.

    `"auto"`: a loss is minimized; otherwise the direction of the compiled
    metric of that name (e.g. `AUC` and `accuracy` go up, `MeanSquaredError`
    down).

    Raises:
        ValueError: in `"auto"` mode, when the direction cannot be inferred.
    """
    if mode != "auto":
        return mode == "min"
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return True
    direction = keras_private.metric_direction(model, name) if model is not None else None
    if direction is None:
        raise ValueError(
            f"Cannot tell whether `{monitor}` should be minimized or maximized: "
            "it is not the loss nor a compiled metric with a known direction. "
            f"Pass `mode='min'` or `mode='max'`. Received: monitor={monitor!r}")
    return direction != "up"


class LRController(keras.callbacks.Callback):
    """Base of the callbacks that change the learning rate."""

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
        self.verbose = _validation.require_one_of("verbose", verbose, (0, 1, 2, True, False))
        # Watching epochs, the batch hook does nothing: declare it safe for
        # Keras's asynchronous batch dispatch, or a mere override of
        # `on_train_batch_end` makes the whole training loop wait on every
        # batch (measured: +12% step time, benchmarks/control_overhead.py).
        self.async_safe = self.frequency == "epoch"
        self.state = None
        self._warned_missing = False
        self._reader = RecentLoss()
        self._epoch = 0

    # ---- state ----
    # Whether the callback scales the learning rate (a schedule then gets a
    # `ControlledSchedule` when the callback is given the model).
    changes_learning_rate = True
    # Whether it warns at the end of an epoch whose weights are not finite
    # (DivergenceGuard acts on them instead).
    warns_on_non_finite_weights = True

    def _defaults(self):
        """Dict of state name -> initial value; subclasses extend it."""
        return {"batches": 0.0}

    def _per_fit(self):
        """The state names a new `fit` starts again (Keras's `_reset`)."""
        return [key for key in self._defaults() if key != "batches"]

    def _state_name(self):
        return f"{type(self).__name__}[{self.monitor}]"

    def _get(self, name):
        return self.state[name]

    def _set(self, name, value):
        self.state[name] = value

    def set_model(self, model):
        super().set_model(model)
        # Before any callback's on_train_begin: BackupAndRestore then loads
        # the state variables together with the optimizer's.
        if getattr(model, "optimizer", None) is None:
            return
        base = self._state_name()
        name = callback_order.unique_name(
            self, base, lambda c: isinstance(c, LRController) and c._state_name() == base)
        owner = LearningRate(model.optimizer).owner
        self.state = StateRegistry.of(owner).claim(self, name, self._defaults())
        if self.changes_learning_rate:
            # A schedule gets its `ControlledSchedule` now, before
            # `BackupAndRestore` (or a `.keras` load) fills in the saved
            # state: created at the first change instead, a resumed run
            # would have nothing to load the scale of its reductions into.
            for _, learning_rate in self._learning_rates():
                if not learning_rate.is_variable():
                    learning_rate.controlled(model)

    def on_train_begin(self, logs=None):
        callback_order.require_before_savers(self)
        if self.state is None:
            raise ValueError(
                f"{type(self).__name__} needs a compiled model: call "
                "`model.compile()` before `fit`.")
        learner = LearningRate(self.model.optimizer).controls_itself()
        if learner is not None:
            raise ValueError(
                f"{type(learner).__name__} learns the learning rate itself; "
                f"{type(self).__name__} cannot also change it. Use one or the "
                "other (`Hypergradient(..., min_lr=..., max_lr=...)` bounds "
                "the rate).")
        self.state.reset(self._per_fit())
        self._end_checked = False
        self._keras_lr_warned_weights = False

    # ---- learning rate ----
    def _learning_rates(self):
        """`[(name, LearningRate)]`: one per sub-optimizer of a Keras
        `MultiOptimizer` (named as Keras's callback names them), else one."""
        optimizer = self.model.optimizer
        optimizers = getattr(optimizer, "optimizers", None)
        if optimizers:
            return [(o.name, LearningRate(o)) for o in optimizers]
        return [(None, LearningRate(optimizer))]

    @property
    def learning_rate(self):
        """The `LearningRate` of the (first) optimizer."""
        return self._learning_rates()[0][1]

    def _step(self):
        return self.learning_rate.step(self.model)

    def current_learning_rate(self):
        """The learning rate the next step will use (float; the first
        sub-optimizer's under a `MultiOptimizer`)."""
        return self.learning_rate.current(self.model)

    def _multiply(self, factor, min_lr=0.0, max_lr=np.inf, above=None, min_change=None):
        """Scales every learning rate by `factor`, keeping it in the bounds
        (with `above`, only the rates above it: Keras's plateau rule; with
        `min_change`, only those that change by more: PyTorch's `eps`).

        Returns `(old_lr, new_lr)` of the first one scaled, at the current
        step, or None when `above` left them all alone.
        """
        changed = None
        for _, learning_rate in self._learning_rates():
            current = learning_rate.current(self.model)
            if above is not None and not current > above:
                continue
            if min_change is not None and not (
                    current - min(max(current * factor, min_lr), max_lr) > min_change):
                continue
            result = learning_rate.multiply(self.model, factor, min_lr, max_lr)
            changed = changed or result
        return changed

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

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if not getattr(self, "_end_checked", True):
            self._end_checked = True
            for _, learning_rate in self._learning_rates():
                # A custom training loop's `CallbackList` sets no `params`.
                params = self.params or {}
                learning_rate.warn_if_past_end(
                    self.model, params.get("epochs"), params.get("steps"), epoch)
        if self.frequency != "epoch":
            self._reader.start_epoch()  # the loss tracker restarts each epoch
            self._last_batch = -1
            self._since_check = 0
            # Read once an epoch (after BackupAndRestore has loaded it); the
            # batch hook only writes it.
            self._batches = self._get("batches")

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency == "epoch":
            return
        if self.params is None:  # a custom loop: its batch logs hold the batch's loss
            self._reader.note(logs)
        # With steps_per_execution > 1 the hook runs once per execution and
        # `batch` is the execution's last step.
        before = self._batches
        self._batches = before + batch - self._last_batch
        self._since_check += batch - self._last_batch
        self._last_batch = batch
        self._set("batches", self._batches)
        if self._batches // self.frequency == before // self.frequency:
            return
        self._check_recent(batch, logs)

    def _check_recent(self, batch, logs):
        loss, steps = self._reader.read(self.model, batch, logs,
                                        running_mean=self.params is not None)
        self._since_check = 0
        if steps:
            self.check(loss)

    def on_epoch_end(self, epoch, logs=None):
        if self.warns_on_non_finite_weights:
            warn_if_not_finite(self)
        # As Keras's ReduceLROnPlateau: the LR the epoch used, before the check.
        if logs is not None and self.state is not None:
            for name, learning_rate in self._learning_rates():
                key = "learning_rate" if name is None else f"learning_rate_{name}"
                logs[key] = learning_rate.current(self.model)
        if self.frequency == "epoch":
            value = self._value(logs)
            if value is not None:
                self.check(value)

    def check(self, value):
        """Applies the callback's rule to one monitored value."""
        raise NotImplementedError

    def _say(self, message):
        if self.verbose:
            keras_private.print_msg(
                f"\nEpoch {self._epoch + 1}: {type(self).__name__} {message}")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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
