"""`DivergenceGuard`: on a loss spike or NaN, go back to good weights and cut the LR."""

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.batch_loss import DivergenceRule
from keras_lr._core.snapshot import TrainingState
from keras_lr._core.snapshot import non_finite_weights
from keras_lr.callbacks._control import LRController

__all__ = ["DivergenceGuard"]


@keras.saving.register_keras_serializable(package="keras_lr")
class DivergenceGuard(LRController):
    """Restores the last good state and cuts the LR when training diverges.

    Watches the mean training loss of every `frequency` batches (read from
    the loss tracker, so it is the loss of those batches, not the epoch's
    running mean), and of the batches left at the end of each epoch.
    Training has diverged when that loss is NaN or infinite, when any of
    the model's weights is (a bad input row can make a layer's weights NaN
    while the loss stays finite: oneDNN's ReLU maps NaN to 0), or when the loss's
    bias-corrected moving average (beta `smoothing`) rises more than
    `threshold - 1` times the size of its best value above the best:
    `smoothed > best + (threshold - 1) * max(|best|, 0.01 * |first|)`, which
    is `smoothed > threshold * best` for a positive loss and stays right
    for a negative one (cosine similarity, NLL). Then the guard:

    1. puts back the last good snapshot of the weights and of the optimizer
       variables (slots, loss scale), bit for bit; `iterations` goes on (a
       schedule keeps time with the data: the failed steps count as spent);
    2. multiplies the learning rate by `factor` (on top of any schedule,
       through `keras_lr.schedules.ControlledSchedule`), not below `min_lr`;
    3. resets the metrics (the epoch's logged values restart from there) and
       goes on with the next batches; after `max_recoveries` recoveries it
       stops training, at the good state (the epoch's logged loss then
       includes the divergence, so it shows).

    A snapshot is taken every `snapshot_every` checks and only becomes "good"
    once the next check is healthy (the weights it holds have then produced
    a finite, non-spiking loss). The first one is taken when the first batch
    starts (after `BackupAndRestore` has loaded a backup, wherever it stands),
    or, for a model that `fit` builds in its first step, after the first
    healthy check; if training diverges before any good state exists, the
    guard stops training and says so. At the end of every epoch whose
    weights are finite, the epoch's final state becomes the good one: the
    state a run resumed from that epoch's backup starts from, so that with
    the rule's moving average and best value (kept in variables, like the
    counters) a resumed run judges and restores exactly as the
    uninterrupted one. Two snapshots are kept in host memory:
    on a large model, raise `snapshot_every`. It must stand before
    `BackupAndRestore` and `ModelCheckpoint` in the `callbacks` list.

    Args:
        threshold: Float > 1. Defaults to `4.0` (the LR finder's).
        factor: Float in (0, 1). LR cut per recovery. Defaults to `0.5`.
        smoothing: Float in [0, 1). Defaults to `0.9`.
        snapshot_every: Integer >= 1, in checks. Defaults to `10`.
        max_recoveries: Integer >= 0. Defaults to `5`.
        min_lr: Float >= 0. Defaults to `0.0`.
        frequency: Integer >= 1, batches per check. Defaults to `1`.
        verbose: 0 or 1. Defaults to `1`.

    Example:

    ```python
    model.fit(x, y, epochs=20, callbacks=[keras_lr.callbacks.DivergenceGuard()])
    ```
    """

    def __init__(self, threshold=4.0, factor=0.5, smoothing=0.9, snapshot_every=10,
                 max_recoveries=5, min_lr=0.0, frequency=1, verbose=1):
        if frequency == "epoch":
            raise ValueError(
                "Argument `frequency` must be an integer number of batches: the "
                "guard watches the training loss as it goes. Received: "
                "frequency='epoch'")
        super().__init__("loss", frequency, verbose)
        self.threshold = _validation.require_number(
            "threshold", threshold, minimum=1, min_inclusive=False)
        self.factor = _validation.require_number(
            "factor", factor, minimum=0, maximum=1, min_inclusive=False,
            max_inclusive=False)
        self.smoothing = _validation.require_number(
            "smoothing", smoothing, minimum=0, maximum=1, max_inclusive=False)
        self.snapshot_every = _validation.require_int("snapshot_every", snapshot_every, minimum=1)
        self.max_recoveries = _validation.require_int("max_recoveries", max_recoveries, minimum=0)
        self.min_lr = _validation.require_non_negative("min_lr", min_lr)
        self._good = self._pending = None
        self.events = []

    warns_on_non_finite_weights = False  # it restores them

    def _defaults(self):
        # The divergence rule's moving average and best value are state too:
        # a resumed run must judge the next loss as the uninterrupted one does.
        rule = {f"rule_{key}": value for key, value in
                DivergenceRule(self.threshold, self.smoothing).state().items()}
        return dict(super()._defaults(), recoveries=0.0, **rule)

    def _state_name(self):
        return type(self).__name__

    @property
    def recoveries(self):
        """Number of recoveries in this `fit` (kept across a resume)."""
        return int(self._get("recoveries"))

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        # The first snapshot waits for the first batch: a BackupAndRestore
        # listed after this callback loads its backup in its own
        # on_train_begin, after this one.
        self._good = self._pending = None
        self._started = False
        self._since_snapshot = 0
        self._rule = DivergenceRule(self.threshold, self.smoothing)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        # After a resume, BackupAndRestore has loaded the rule's state by now.
        self._rule.load({key: self._get(f"rule_{key}") for key in DivergenceRule.STATE})

    def on_train_batch_begin(self, batch, logs=None):
        if not self._started:
            self._started = True
            if self.model.built:
                self._good = TrainingState.capture(self.model)

    def on_epoch_end(self, epoch, logs=None):
        # The batches after the last full window of the epoch.
        if self._since_check and self._last_batch >= 0:
            self._check_recent(self._last_batch, None)
        super().on_epoch_end(epoch, logs)
        if self.model.stop_training:
            return
        # Each epoch starts from the state it begins with as the good one,
        # with its weights checked finite: the one state that a run resumed
        # from this epoch's backup also has, so both judge and restore alike.
        if not non_finite_weights(self.model):
            self._good, self._pending = TrainingState.capture(self.model), None
            self._since_snapshot = 0
        for key, value in self._rule.state().items():
            self._set(f"rule_{key}", value)

    def check(self, value):
        bad = non_finite_weights(self.model) if np.isfinite(value) else []
        if bad:
            more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
            return self._recover(
                f"the loss is finite ({value:.4g}) but the weights are not: NaN or inf "
                f"in {bad[0]}{more} (often a NaN or inf row in the data: check it)")
        diverged, smoothed = self._rule.update(value)
        if diverged:
            if not np.isfinite(value):
                return self._recover(f"the loss is {value}")
            return self._recover(
                f"the smoothed loss {smoothed:.4g} is above {self._rule.limit():.4g} "
                f"(best {self._rule.best:.4g}, threshold {self.threshold:g})")
        if self._good is None:  # built by the first step: this state is healthy
            self._good = TrainingState.capture(self.model)
        elif self._pending is not None:  # confirmed by this healthy check
            self._good, self._pending = self._pending, None
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self._pending = TrainingState.capture(self.model)
            self._since_snapshot = 0

    def _recover(self, reason):
        model = self.model
        if self._good is None:
            model.stop_training = True
            self.events.append(dict(step=self._step(), reason=reason, action="stopped"))
            self._say(f"{reason} before any healthy state was seen (the model was "
                      "built by the first step): stopped training, nothing restored.")
            return
        # Every step counter of the optimizer goes on (a MultiOptimizer's
        # sub-optimizers each have theirs).
        keep = [*_step_counters(model.optimizer), *getattr(model, "metrics_variables", [])]
        keep += [lr.slot for _, lr in self._learning_rates()
                 if lr.is_variable()]  # changed below, not restored
        self._good.restore(attributes=False, keep=keep, learning_rate=False)
        self._pending = None
        self._since_snapshot = 0
        self._rule.reset()
        recoveries = self.recoveries + 1
        self._set("recoveries", recoveries)
        if recoveries > self.max_recoveries:
            self.model.stop_training = True
            self.events.append(dict(step=self._step(), reason=reason, action="stopped"))
            self._say(f"{reason}: restored the last good state and stopped "
                      f"(max_recoveries={self.max_recoveries}).")
            return
        for metric in model.metrics:
            metric.reset_state()
        self._reader.start_epoch()  # the loss tracker restarts from here
        old, new = self._multiply(self.factor, min_lr=self.min_lr)
        self.events.append(dict(step=self._step(), reason=reason, action="recovered",
                                old_lr=old, new_lr=new))
        self._say(f"{reason}: restored the last good state, learning rate "
                  f"{old:.4g} -> {new:.4g}.")

    def get_config(self):
        return {
            "threshold": self.threshold, "factor": self.factor,
            "smoothing": self.smoothing, "snapshot_every": self.snapshot_every,
            "max_recoveries": self.max_recoveries, "min_lr": self.min_lr,
            "frequency": self.frequency, "verbose": self.verbose,
        }


def _step_counters(optimizer):
    """The `iterations` variables of `optimizer` and of every optimizer it
    holds (a `MultiOptimizer`'s, a wrapper's)."""
    counters, stack = [], [optimizer]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        counters.append(current.iterations)
        counters.extend(keras_private.raw_step_counter(current))
        stack.extend(getattr(current, "optimizers", None) or [])
        stack.append(getattr(current, "inner_optimizer", None))
    return counters
