"""The recent training loss, and the one rule that says it diverged.

`logs["loss"]` in a batch hook is Keras's running mean over the epoch, not
the loss of the batch. `RecentLoss` gives the mean loss of the batches since
its last reading, exactly: from the model's loss tracker (its weighted
total and count), or, for a custom `train_step` that does not use the
tracker, by un-averaging the logged running mean (exact for equal batches).
It also works with `steps_per_execution > 1`, where a batch hook sees
several steps at once.

`DivergenceRule` is the test the LR finder, `DivergenceGuard` and the tuning
`DivergenceStop` all apply: a value has diverged when it is NaN or infinite,
or when it lies more than `(threshold - 1) * scale` above the reference
(the best value so far, or the first one), where
`scale = max(|reference|, 0.01 * |first|)`. For positive losses that is
fastai's and PyTorch's `loss > threshold * best` (whenever the best is at
least 1% of the first loss); it stays meaningful for losses that are
negative (cosine similarity, NLL, ELBO) or reach zero, where
`threshold * best` is below the best itself.
"""

import math

import numpy as np

from keras_lr._core import keras_private

__all__ = ["BiasCorrectedAverage", "DivergenceRule", "RecentLoss"]


class BiasCorrectedAverage:
    """fastai's smoothed loss: an exponential moving average, bias-corrected.

    `average = beta * average + (1 - beta) * loss`, reported as
    `average / (1 - beta ** n)` after `n` updates (`beta=0`: the raw value).
    """

    def __init__(self, beta, average=0.0, count=0):
        self.beta = beta
        self._average = float(average)
        self._count = int(count)

    def update(self, value):
        """Adds one value and returns the smoothed value."""
        self._count += 1
        self._average = self.beta * self._average + (1 - self.beta) * value
        return self._average / (1 - self.beta ** self._count)


class DivergenceRule:
    """Says when a stream of (smoothed) losses has diverged.

    Args:
        threshold: Float > 1. How far above the reference counts as
            diverged, in units of the reference's magnitude.
        smoothing: Float in [0, 1). Beta of a `BiasCorrectedAverage` applied
            to the values first. Defaults to `0.0`.
        reference: `"best"` (the lowest smoothed value so far) or `"first"`
            (the first value). Defaults to `"best"`.
    """

    def __init__(self, threshold, smoothing=0.0, reference="best"):
        self.threshold = threshold
        self.smoothing = smoothing
        self.reference = reference
        self.reset()

    def reset(self):
        self._average = BiasCorrectedAverage(self.smoothing)
        self.first = None
        self.best = math.inf

    # The rule's state as plain floats (`first` NaN before the first value),
    # for a callback that keeps it in variables and resumes it.
    STATE = ("average", "count", "first", "best")

    def state(self):
        return {"average": self._average._average, "count": float(self._average._count),
                "first": math.nan if self.first is None else self.first, "best": self.best}

    def load(self, state):
        self._average = BiasCorrectedAverage(self.smoothing, state["average"], state["count"])
        self.first = None if math.isnan(state["first"]) else state["first"]
        self.best = state["best"]

    def limit(self):
        """The value above which the next one counts as diverged."""
        if self.first is None:
            return math.inf
        reference = self.best if self.reference == "best" else self.first
        scale = max(abs(reference), 0.01 * abs(self.first))
        return reference + (self.threshold - 1) * scale

    def update(self, value):
        """Adds one loss; returns `(diverged, smoothed)`.

        A NaN or infinite value diverges at once (and is not averaged in).
        """
        if not math.isfinite(value):
            return True, value
        smoothed = self._average.update(value)
        if self.first is not None and self.threshold is not None and smoothed > self.limit():
            return True, smoothed
        if self.first is None:
            self.first = smoothed
        self.best = min(self.best, smoothed)
        return False, smoothed


class RecentLoss:
    """The mean training loss of the batches since the last reading.

    Call `start_epoch()` from `on_epoch_begin` (Keras resets its loss
    tracker there) and `read(batch, logs)` from `on_train_batch_end`.
    """

    def __init__(self):
        self.start_epoch()

    def start_epoch(self):
        self._totals = (0.0, 0.0)  # loss tracker (total, count) at the last read
        self._logged = (-1, 0.0)   # (batch, running mean * (batch + 1)) at the last read
        self._noted = []           # batch losses noted since the last read

    def note(self, logs):
        """Notes the batch's own loss from `logs` (a custom training loop's
        batch logs), for a `read(..., running_mean=False)` that covers
        several batches. Call it after every batch."""
        logged = (logs or {}).get("loss")
        if logged is not None:
            self._noted.append(float(np.asarray(logged)))

    def read(self, model, batch, logs, running_mean=True):
        """Returns `(loss, steps)`: the mean loss of the `steps` batches up
        to `batch` since the last call (`steps` is 0 when nothing ran).

        `running_mean=False` says that `logs["loss"]` is the batch's own
        loss, not `fit`'s running mean of the epoch: what a custom training
        loop (a `CallbackList` without `params`) logs after each batch. It
        is used when the model's loss tracker did not move: the mean of the
        losses `note`d since the last read, or this batch's.
        """
        last_batch, last_sum = self._logged
        steps = batch - last_batch
        logged = (logs or {}).get("loss")
        mean = float(np.asarray(logged)) if logged is not None else math.nan
        self._logged = (batch, (batch + 1) * mean)
        if keras_private.has_loss_tracker(model):
            keras_private.jax_state_sync(model)
            total, count = keras_private.loss_tracker_totals(model)
            start_total, start_count = self._totals
            self._totals = (total, count)
            if count > start_count:
                return (total - start_total) / (count - start_count), steps
        if not running_mean:
            noted, self._noted = self._noted, []
            if noted:
                return float(np.mean(noted)), len(noted)
            return mean, max(steps, 1)
        if steps <= 0:
            return math.nan, 0
        return ((batch + 1) * mean - last_sum) / steps, steps
