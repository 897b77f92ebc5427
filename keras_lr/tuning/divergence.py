"""`DivergenceStop`: end a tuning trial as soon as its loss diverges."""

import math

import keras
import numpy as np

from keras_lr import _validation
from keras_lr.tuning._kt import errors


@keras.saving.register_keras_serializable(package="keras_lr")
class DivergenceStop(keras.callbacks.Callback):
    """Stops a keras-tuner trial whose training loss diverges, as a failure.

    After every batch it recovers the loss of the batches since the last
    call from the running mean Keras logs (`(b + 1) * mean_b - (a + 1) *
    mean_a` over batches `a < b`; exact for equal batch sizes, so it also
    works with `steps_per_execution > 1` and on every backend, without
    reading a variable). The trial has diverged when that loss is NaN or
    infinite, or when it exceeds `factor` times the loss of the first batch.
    Then the callback raises `keras_tuner.errors.FailedTrialError` with the
    reason: keras-tuner records the trial as `FAILED` with that message and
    the search goes on with the next trial.

    A trial with a learning rate a few decades too large goes to NaN in a
    handful of steps; stopping it there saves the rest of its budget.
    `LRHyperModel` and `CoarseToFine` add one to every trial.

    Args:
        factor: Float > 1. Defaults to `4.0` (the LR finder's divergence
            threshold).
        verbose: 0 or 1: print the reason when stopping. Defaults to `1`.

    Raises:
        ValueError: for an invalid argument.

    Example:

    ```python
    tuner.search(x, y, epochs=5, callbacks=[keras_lr.tuning.DivergenceStop()])
    ```
    """

    def __init__(self, factor=4.0, verbose=1):
        super().__init__()
        self.factor = _validation.require_number(
            "factor", factor, minimum=1, min_inclusive=False)
        self.verbose = _validation.require_one_of("verbose", verbose, (0, 1))
        self.reason = None

    def on_train_begin(self, logs=None):
        self.reason = None
        self._first = None
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._last = (-1, 0.0)  # (batch index, running sum) at the last call

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get("loss")
        if value is None:
            return
        mean = float(np.asarray(value))
        last_batch, last_sum = self._last
        total = (batch + 1) * mean
        self._last = (batch, total)
        self._steps += batch - last_batch
        loss = (total - last_sum) / (batch - last_batch)
        if not math.isfinite(loss):
            self._stop(f"the training loss became {loss} at step {self._steps}")
        elif self._first is None:
            self._first = loss
        elif loss > self.factor * self._first:
            self._stop(
                f"the training loss {loss:.4g} at step {self._steps} is above "
                f"{self.factor:g} x its first value {self._first:.4g}")

    def _stop(self, reason):
        self.reason = f"Diverged: {reason}."
        if self.verbose:
            print(f"DivergenceStop: {self.reason}")
        raise errors.FailedTrialError(self.reason)

    def get_config(self):
        return {"factor": self.factor, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def validate_factor(factor):
    """`None` (no `DivergenceStop`), or the factor as a float > 1."""
    if factor is None:
        return None
    return _validation.require_number(
        "divergence_factor", factor, minimum=1, min_inclusive=False)


def with_divergence_stop(callbacks, factor, verbose=1):
    """`callbacks` as a list, plus a `DivergenceStop(factor)` unless it holds
    one already or `factor` is `None`."""
    callbacks = list(callbacks or [])
    if factor is not None and not any(isinstance(c, DivergenceStop) for c in callbacks):
        callbacks.append(DivergenceStop(factor, verbose=verbose))
    return callbacks
