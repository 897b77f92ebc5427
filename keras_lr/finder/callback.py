"""The LR range test as a Keras callback."""

import math

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.batch_loss import DivergenceRule
from keras_lr._core.batch_loss import RecentLoss
from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.snapshot import TrainingState
from keras_lr._core.snapshot import non_finite_weights
from keras_lr._core.snapshot import sync_jax_state
from keras_lr.finder import sweep as _sweep
from keras_lr.finder.result import LRFinderResult

__all__ = ["LRFinder"]


class LRFinder(keras.callbacks.Callback):
    """Runs a learning-rate range test inside your own `model.fit` call.

    For the sweep, the optimizer's learning rate (a float or any schedule) is
    replaced by an in-graph `keras_lr.finder.LRSweep` from `start_lr` to
    `end_lr`; each step's own batch loss is recorded (read from the loss
    tracker: `logs["loss"]` is Keras's running epoch mean). Training stops
    after `num_steps` steps, on a NaN/inf loss, or when the smoothed loss
    diverges (`keras_lr._core.batch_loss.DivergenceRule`: above
    `diverge_threshold` times its best for a positive loss, and the same
    margin on `|best|` for a negative one). At the end of `fit`,
    `restore=True` puts the model back exactly as it was when the sweep
    began (at the first batch, after a `BackupAndRestore` anywhere in the
    list has loaded its backup): weights, optimizer variables (slots,
    `iterations`, loss scale), learning rate (float or schedule), metrics
    and compiled functions. The result is in `callback.result`.
    `keras_lr.find_lr` does all of this with one call, and also builds a
    model that is not built yet.

    With `steps_per_execution=k`, Keras calls batch hooks once per `k`
    steps: each point is then the mean loss of those `k` batches, at the
    geometric mean of their learning rates (`find_lr` runs its sweep with
    `steps_per_execution=1` and restores your setting). With an optimizer's
    `gradient_accumulation_steps=k`, the weights move once per `k`
    batches: the sweep's rate moves with them, and each point is one update
    (the mean loss of its `k` micro-batches), so `num_steps` counts updates
    and the sweep reads `k * num_steps` batches.

    The sweep also stops when the weights hold a NaN or an infinity while
    the loss is finite (`stop_reason="nan_weights"`: a bad row in the data,
    on CPUs whose ReLU maps NaN to 0).

    Args:
        start_lr: Float > 0. First learning rate of the sweep. Defaults to
            `1e-7`.
        end_lr: Float > `start_lr`. Last learning rate. Defaults to `10.0`.
        num_steps: Integer >= 2. Steps of the sweep. Defaults to `300`.
        mode: `"exponential"` or `"linear"` spacing. Defaults to
            `"exponential"`.
        smoothing: Float in [0, 1). Beta of the bias-corrected moving
            average of the loss. Defaults to `0.9`.
        diverge_threshold: Float > 1 or None. Stop when the smoothed loss
            exceeds this multiple of its best. `None` never stops early (but
            a NaN/inf loss always stops). Defaults to `4.0`.
        validation_data: Optional `(x, y)` tuple or list, or a dataset,
            evaluated after every step (costly: keep it small). The
            suggestions then use the validation loss.
        restore: Bool. Restore the model at the end of `fit`. Defaults to
            `True`.
        verbose: 0 or 1. With 1, a `keras.utils.Progbar` of the sweep
            (step, learning rate, smoothed loss). Defaults to `0` (the
            callback runs inside your `fit`, which has its own bar).
        title: Optional string printed above the bar. Defaults to `None`.

    Raises:
        ValueError: if an argument is out of range; at the start of `fit`,
            if the model is not compiled or not built (use
            `keras_lr.find_lr`, which builds it from the data).

    Example:

    ```python
    finder = keras_lr.callbacks.LRFinder(num_steps=200)
    model.fit(x, y, epochs=100, callbacks=[finder])  # stops after the sweep
    print(finder.result.suggestion())
    ```
    """

    def __init__(self, start_lr=1e-7, end_lr=10.0, num_steps=300,
                 mode="exponential", smoothing=0.9,
                 diverge_threshold=4.0, validation_data=None,
                 restore=True, verbose=0, title=None):
        super().__init__()
        (self.start_lr, self.end_lr, self.num_steps, self.mode, self.smoothing,
         self.diverge_threshold) = _sweep.validate_finder_args(
            start_lr, end_lr, num_steps, mode, smoothing, diverge_threshold)
        self.validation_data = _sweep.validate_validation_data(validation_data)
        self.restore = _validation.require_bool("restore", restore)
        self.verbose = int(_validation.require_one_of("verbose", verbose, (0, 1, True, False)))
        if title is not None and not isinstance(title, str):
            raise TypeError(f"Argument `title` must be a string. Received: title={title!r}")
        self.title = title
        self.result = None
        self._state = None

    def on_train_begin(self, logs=None):
        model = self.model
        if getattr(model, "optimizer", None) is None:
            raise ValueError("LRFinder needs a compiled model (call `model.compile()`).")
        if not model.built:
            raise ValueError(
                f"LRFinder needs a built model, so that it can restore it: "
                f"{model.name!r} is built by the first training step. Build it "
                "first (`keras.Input` in a Sequential, `model.build(shape)`), or "
                "use `keras_lr.find_lr`, which builds it from the data.")
        self._state = None
        # The metrics as they are before `fit` resets them for the epoch; the
        # rest is captured at the first batch.
        self._metrics = TrainingState.capture(
            model, variables=getattr(model, "metrics_variables", []))
        self._steps = 0
        self._micro = 0
        self._window = []
        self._accumulation = 1
        self._begin = 0
        self._lrs, self._losses, self._val_losses = [], [], []
        self._rule = DivergenceRule(self.diverge_threshold, self.smoothing)
        self._reader = RecentLoss()
        self._stop_reason = "data"
        self._progbar = None
        if self.verbose:
            if self.title:
                keras_private.print_msg(self.title)
            self._progbar = keras.utils.Progbar(
                self.num_steps, stateful_metrics=["lr", "smoothed_loss"])

    def _start_sweep(self):
        # At the first batch, not in on_train_begin: a BackupAndRestore
        # listed after this callback has loaded its backup by now.
        model = self.model
        self._state = TrainingState.capture(model)
        self._state.replace_values(self._metrics)
        learning_rate = LearningRate(model.optimizer)
        self._accumulation = learning_rate.accumulation_steps
        self._sweep = _sweep.LRSweep(self.start_lr, self.end_lr, self.num_steps,
                                     self.mode, first_step=learning_rate.schedule_step(model),
                                     accumulation_steps=self._accumulation)
        learning_rate.replace(self._sweep)
        # The cached train function was traced with the user's learning rate.
        model.make_train_function(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._reader.start_epoch()

    def on_train_batch_begin(self, batch, logs=None):
        if self._state is None:
            self._start_sweep()
        self._begin = batch

    def on_train_batch_end(self, batch, logs=None):
        loss, count = self._reader.read(self.model, batch, logs,
                                        running_mean=self.params is not None)
        count = max(1, count)
        # Under gradient accumulation a batch hook sees micro-batches: one
        # point per update, the mean loss of its micro-batches (the weights
        # move once per window, and the sweep's rate with them).
        self._window.append((loss, count))
        self._micro += count
        updates = self._micro // self._accumulation
        if updates == self._steps and math.isfinite(loss):
            return
        weights = np.array([c for _, c in self._window], dtype="float64")
        loss = float(np.dot([v for v, _ in self._window], weights) / weights.sum())
        self._window = []
        local = np.arange(self._steps, max(updates, self._steps + 1))
        self._steps = max(updates, self._steps + 1)
        lr = float(np.exp(np.mean(np.log(self._sweep.values(local)))))
        self._lrs.append(lr)
        self._losses.append(loss)
        bad_weights = non_finite_weights(self.model) if math.isfinite(loss) else []
        if self.validation_data is not None:
            self._val_losses.append(
                self._validation_loss() if math.isfinite(loss) and not bad_weights
                else np.nan)
        diverged, smoothed = self._rule.update(loss)
        if self._progbar is not None:
            self._progbar.update(min(self._steps, self.num_steps), values=[
                ("lr", lr), ("smoothed_loss", smoothed)])
        if not math.isfinite(loss):
            self._stop("nan")
        elif bad_weights:
            self._losses[-1] = np.nan  # the weights behind this loss are not usable
            self._stop("nan_weights")
        elif diverged and len(self._losses) > 1:
            self._stop("diverged")
        elif self._steps >= self.num_steps:
            self._stop("completed")

    def _validation_loss(self):
        sync_jax_state(self.model)
        data = self.validation_data
        if isinstance(data, (tuple, list)):
            # (x, y) or (x, y, sample_weight): evaluate's third argument is the
            # batch size.
            values = self.model.evaluate(
                data[0], data[1], sample_weight=data[2] if len(data) > 2 else None,
                verbose=0, return_dict=True)
        else:
            values = self.model.evaluate(data, verbose=0, return_dict=True)
        return float(values["loss"])

    def _stop(self, reason):
        self._stop_reason = reason
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._progbar is not None and self._steps < self.num_steps:
            self._progbar.update(self._steps, finalize=True)
        self.result = LRFinderResult(
            self._lrs, self._losses,
            validation_losses=self._val_losses if self.validation_data is not None else None,
            stop_reason=self._stop_reason,
            config={
                "start_lr": self.start_lr, "end_lr": self.end_lr,
                "num_steps": self.num_steps, "mode": self.mode,
                "smoothing": self.smoothing,
                "diverge_threshold": self.diverge_threshold,
            },
        )
        if self.restore:
            self.restore_model()
        if not self._lrs:
            self.result.stop_reason = "no data"

    def restore_model(self):
        """Puts the model back as it was at the start of `fit` (idempotent)."""
        if self._state is not None:
            self._state.restore()
            self._state = None
