"""`ReduceLROnPlateau`: Keras's, on top of any schedule, and resumable."""

import math

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core.snapshot import sync_jax_state
from keras_lr.callbacks._control import SmoothedLRController
from keras_lr.callbacks._control import is_min_mode
from keras_lr.callbacks._control import validate_mode

__all__ = ["ReduceLROnPlateau"]

# PyTorch's `eps` of `ReduceLROnPlateau`: the smallest change applied.
TORCH_EPS = 1e-8


@keras.saving.register_keras_serializable(package="keras_lr")
class ReduceLROnPlateau(SmoothedLRController):
    """Reduces the learning rate when a metric has stopped improving.

    A drop-in for `keras.callbacks.ReduceLROnPlateau` (same arguments, same
    defaults, same rule, same messages; Keras's own test file passes with
    only the class swapped, see `tests/peers/`) that also works when the
    learning rate is a `LearningRateSchedule`: it then scales the schedule,
    whose shape is kept (`lr(step) = scale * schedule(step)`, see
    `keras_lr.schedules.ControlledSchedule`). A float learning rate stays
    the optimizer's variable, assigned as Keras does. Its counters are
    variables saved with the optimizer, so a run resumed by
    `keras.callbacks.BackupAndRestore` continues them; as in Keras, a new
    `fit` starts `best`, `wait` and `cooldown_counter` (and the warmup and
    smoothing) again. It must stand before `BackupAndRestore` and
    `ModelCheckpoint` in the `callbacks` list (it raises otherwise).

    The rule, checked at the end of each epoch (or every `frequency`
    batches on the mean training loss of those batches), after the first
    `warmup` checks:

    - in cooldown: `cooldown_counter -= 1` and `wait = 0`;
    - improved (`"abs"`: `value < best - min_delta`, `"rel"`:
      `value < best * (1 - min_delta)`; mirrored in `"max"` mode):
      `best = value`, `wait = 0`;
    - otherwise, outside cooldown: `wait += 1`; when `wait >= patience` and
      the current LR is above `min_lr`: `lr = max(lr * factor, min_lr)`,
      `cooldown_counter = cooldown`, `wait = 0` (and, with
      `restore_best_weights`, the weights of the best check come back).

    With `patience_rule="torch"` the rule is PyTorch's
    `torch.optim.lr_scheduler.ReduceLROnPlateau` instead: the bad-check
    count is updated first, cooldown then zeroes it, and the LR is reduced
    when `num_bad_epochs > patience` (one check later than Keras for the
    same `patience`), unless that would change it by 1e-8 or less
    (PyTorch's `eps`); the cooldown starts either way. PyTorch's scenarios
    run against PyTorch itself in `tests/peers/`.

    A NaN or infinite value is skipped (Keras counts it as "not improved");
    add `DivergenceGuard` to act on it.

    Args:
        monitor: String. Metric to watch. Defaults to `"val_loss"`. With an
            integer `frequency` it must be `"loss"`.
        factor: Float in (0, 1). `new_lr = lr * factor`. Defaults to `0.1`.
        patience: Integer >= 0. Checks without improvement before a
            reduction. Defaults to `10`.
        verbose: 0 or 1. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"`; `"auto"` minimizes a loss and
            follows the compiled metric's own direction otherwise (Keras 3's
            rule: `auc` and `accuracy` go up). Defaults to `"auto"`.
        min_delta: Float >= 0. Threshold for a significant improvement.
            Defaults to `1e-4`.
        cooldown: Integer >= 0. Checks to wait after a reduction before
            counting again. Defaults to `0`.
        min_lr: Float >= 0. Lower bound on the learning rate (for a
            schedule: on its current value). Defaults to `0.0`.
        threshold_mode: `"abs"` (Keras's) or `"rel"` (PyTorch's, relative to
            the best value). Defaults to `"abs"`.
        warmup: Integer >= 0. Checks ignored at the start (while a warmup
            schedule ramps up the LR). Defaults to `0`.
        smoothing: Float in [0, 1). Beta of a bias-corrected moving average
            of the monitored value; `0` uses the raw value. Defaults to `0.0`.
        restore_best_weights: Bool. On each reduction, restore the model's
            weights from the best check (kept in memory; after a resume,
            from the first improvement on). Defaults to `False`.
        frequency: `"epoch"` or an integer N: check the mean training loss
            of every N batches. Defaults to `"epoch"`.
        patience_rule: `"keras"` (`wait >= patience`) or `"torch"`
            (`num_bad_epochs > patience`, PyTorch's order of updates).
            Defaults to `"keras"`.

    Raises:
        ValueError: for bad argument values; at the start of training, if it
            stands after `BackupAndRestore` or `ModelCheckpoint`, or if
            `mode="auto"` cannot tell the monitor's direction.
        TypeError: for unknown arguments.

    Example:

    ```python
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=1000)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    model.fit(x, y, validation_split=0.2, epochs=50,
              callbacks=[keras_lr.callbacks.ReduceLROnPlateau(
                  factor=0.5, patience=3, threshold_mode="rel", warmup=2)])
    ```
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0,
                 mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0, *,
                 threshold_mode="abs", warmup=0, smoothing=0.0,
                 restore_best_weights=False, frequency="epoch", patience_rule="keras"):
        super().__init__(monitor, frequency, verbose, warmup, smoothing)
        self.factor = _validation.require_number(
            "factor", factor, minimum=0, maximum=1, min_inclusive=False,
            max_inclusive=False)
        self.patience = _validation.require_int("patience", patience, minimum=0)
        self.mode = validate_mode(mode)
        self.min_delta = _validation.require_non_negative("min_delta", min_delta)
        self.cooldown = _validation.require_int("cooldown", cooldown, minimum=0)
        self.min_lr = _validation.require_non_negative("min_lr", min_lr)
        self.threshold_mode = _validation.require_one_of(
            "threshold_mode", threshold_mode, ("abs", "rel"))
        self.restore_best_weights = _validation.require_bool(
            "restore_best_weights", restore_best_weights)
        self.patience_rule = _validation.require_one_of(
            "patience_rule", patience_rule, ("keras", "torch"))
        self._minimize = None  # decided at the first check, as Keras does
        self._best_weights = None

    def _defaults(self):
        return dict(super()._defaults(), wait=0.0, cooldown_counter=0.0,
                    reductions=0.0, best=math.nan)

    def _per_fit(self):
        return [key for key in super()._per_fit() if key != "reductions"]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._best_weights = None

    # Keras's attribute names, read from and written to the state variables.
    @property
    def wait(self):
        return int(self._get("wait"))

    @wait.setter
    def wait(self, value):
        self._set("wait", value)

    @property
    def cooldown_counter(self):
        return int(self._get("cooldown_counter"))

    @cooldown_counter.setter
    def cooldown_counter(self, value):
        self._set("cooldown_counter", value)

    @property
    def best(self):
        """The best monitored value of this `fit`, or None before the first."""
        best = self._get("best")
        return None if math.isnan(best) else best

    @best.setter
    def best(self, value):
        self._set("best", math.nan if value is None else value)

    @property
    def reductions(self):
        """Number of reductions so far (kept across resumes and fits)."""
        return int(self._get("reductions"))

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _improved(self, value, best):
        if best is None:
            return True
        best = float(np.float32(best))  # as stored
        if self.threshold_mode == "rel":
            if self._minimize:
                return value < best * (1 - self.min_delta)
            return value > best * (1 + self.min_delta)
        if self._minimize:
            return value < best - self.min_delta
        return value > best + self.min_delta

    def check(self, value):
        if self._minimize is None:
            self._minimize = is_min_mode(self.mode, self.monitor, self.model)
        checks, value = self._count_and_smooth(value)
        if checks <= self.warmup or not np.isfinite(value):
            return
        if self.patience_rule == "torch":
            return self._check_torch(value)
        if self.in_cooldown():
            self.cooldown_counter = self.cooldown_counter - 1
            self.wait = 0
        if self._improved(value, self.best):
            self._new_best(value)
        elif not self.in_cooldown():
            self.wait = self.wait + 1
            if self.wait >= self.patience:
                self._reduce()

    def _check_torch(self, value):
        # torch.optim.lr_scheduler.ReduceLROnPlateau.step, in its order.
        if self._improved(value, self.best):
            self._new_best(value)
        else:
            self.wait = self.wait + 1
        if self.in_cooldown():
            self.cooldown_counter = self.cooldown_counter - 1
            self.wait = 0
        if self.wait > self.patience:
            self._reduce()

    def _new_best(self, value):
        self.best = value
        self.wait = 0
        if self.restore_best_weights:
            sync_jax_state(self.model)
            self._best_weights = self.model.get_weights()

    def _reduce(self):
        if self.patience_rule == "torch":
            # As PyTorch: a rate is reduced when that changes it by more than
            # `eps` (1e-8); the cooldown starts and the count restarts anyway.
            changed = self._multiply(self.factor, min_lr=self.min_lr, min_change=TORCH_EPS)
            self.cooldown_counter = self.cooldown
            self.wait = 0
        else:
            # As Keras: each rate above `min_lr` is reduced (every
            # sub-optimizer of a MultiOptimizer on its own); none above it,
            # nothing happens.
            changed = self._multiply(self.factor, min_lr=self.min_lr,
                                     above=float(np.float32(self.min_lr)))
        if changed is None:
            return
        old, new = changed
        self._set("reductions", self.reductions + 1)
        self.cooldown_counter = self.cooldown
        self.wait = 0
        restored = ""
        if self.restore_best_weights and self._best_weights is not None:
            sync_jax_state(self.model)
            self.model.set_weights(self._best_weights)
            restored = " (best weights restored)"
        # Keras's message: the Python value asked for, before float32.
        self._say(f"reducing learning rate to {max(old * self.factor, self.min_lr)}"
                  f"{restored}.")

    def get_config(self):
        return {
            "monitor": self.monitor, "factor": self.factor,
            "patience": self.patience, "verbose": self.verbose,
            "mode": self.mode, "min_delta": self.min_delta,
            "cooldown": self.cooldown, "min_lr": self.min_lr,
            "threshold_mode": self.threshold_mode, "warmup": self.warmup,
            "smoothing": self.smoothing,
            "restore_best_weights": self.restore_best_weights,
            "frequency": self.frequency, "patience_rule": self.patience_rule,
        }
