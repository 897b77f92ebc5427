"""`DivergenceStop`: end a tuning trial as soon as its loss diverges."""

import math

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.batch_loss import DivergenceRule
from keras_lr._core.batch_loss import RecentLoss
from keras_lr._core.snapshot import non_finite_weights
from keras_lr.tuning._kt import errors

__all__ = ["DivergenceStop", "require_finite_history", "validate_factor",
           "with_divergence_stop"]


@keras.saving.register_keras_serializable(package="keras_lr")
class DivergenceStop(keras.callbacks.Callback):
    """Stops a keras-tuner trial whose training loss diverges, as a failure.

    After every batch it reads the loss of the batches since the last call
    (`keras_lr._core.batch_loss.RecentLoss`: exact, also with
    `steps_per_execution > 1`). The trial has diverged when that loss is NaN
    or infinite, or when it rises more than `factor - 1` times the size of
    the first batch's loss above it (the package's one divergence rule,
    `DivergenceRule(factor, reference="first")`: `loss > factor * first` for
    a positive loss, and right for negative ones). It has also diverged when
    the weights are NaN or infinite at the end of an epoch: a bad input row
    can do that behind a finite loss (oneDNN's ReLU maps NaN to 0).
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
        self._reader = RecentLoss()

    def on_train_begin(self, logs=None):
        self.reason = None
        self._steps = 0
        self._rule = DivergenceRule(self.factor, reference="first")

    def on_epoch_begin(self, epoch, logs=None):
        self._reader.start_epoch()

    def on_train_batch_end(self, batch, logs=None):
        loss, steps = self._reader.read(self.model, batch, logs,
                                        running_mean=self.params is not None)
        if not steps:
            return
        self._steps += steps
        diverged, _ = self._rule.update(loss)
        if not math.isfinite(loss):
            self._stop(f"the training loss became {loss} at step {self._steps}")
        elif diverged:
            first = self._rule.first
            limit = (f"{self.factor:g} x its first value {first:.4g}" if first > 0 else
                     f"{self._rule.limit():.4g}, the limit for its first value {first:.4g}")
            self._stop(f"the training loss {loss:.4g} at step {self._steps} is above {limit}")

    def on_epoch_end(self, epoch, logs=None):
        # A bad input row can make the weights NaN while the loss stays finite
        # (oneDNN's ReLU maps NaN to 0): the trial would be ranked on a model
        # that predicts a constant.
        bad = non_finite_weights(self.model)
        if bad:
            self._stop(f"the weights became NaN or inf ({bad[0]}) by the end of epoch "
                       f"{epoch + 1}, while the loss stayed finite: a NaN or inf in the "
                       "data?")

    def _stop(self, reason):
        self.reason = f"Diverged: {reason}."
        if self.verbose:
            keras_private.print_msg(f"DivergenceStop: {self.reason}")
        raise errors.FailedTrialError(self.reason)

    def get_config(self):
        return {"factor": self.factor, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def require_finite_history(results, names):
    """Raises `FailedTrialError` when a monitored value of a trial's
    training went NaN or infinite (e.g. a validation loss that diverged while
    the training loss did not), so the trial fails with that reason instead
    of being ranked on a NaN.

    Args:
        results: What a trial's `fit` returned: a `History`, a dict of
            lists, or a list of those (keras-tuner's executions).
        names: The metric names to check (those present are checked).
    """
    items = results if isinstance(results, (list, tuple)) else [results]
    for item in items:
        history = getattr(item, "history", item)
        if not isinstance(history, dict):
            continue
        for name in names:
            for epoch, value in enumerate(history.get(name, [])):
                value = float(value)
                if not math.isfinite(value):
                    raise errors.FailedTrialError(
                        f"Diverged: `{name}` became {value} at epoch {epoch + 1}.")


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
