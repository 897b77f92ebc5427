"""`BoldDriver`: raises the learning rate while progress is slow, cuts it on a rise."""

import math

import keras
import numpy as np

from keras_lr import _validation
from keras_lr.callbacks._control import SmoothedLRController
from keras_lr.callbacks._control import is_min_mode
from keras_lr.callbacks._control import validate_mode

__all__ = ["BoldDriver"]


@keras.saving.register_keras_serializable(package="keras_lr")
class BoldDriver(SmoothedLRController):
    """Adaptive LR control: up while the loss improves slowly, down when it rises.

    The "bold driver" rule (Battiti, 1989; Vogl et al., 1988) applied to a
    monitored value, on top of any learning rate or schedule (it scales it,
    like `ReduceLROnPlateau`). At each check after `warmup`, with `previous`
    and `value` the last two (optionally smoothed) values and the relative
    improvement `r = (previous - value) / |previous|` (sign flipped in
    `"max"` mode):

    - `r < 0` (the value rose, or it oscillates): `lr = max(lr * decrease,
      min_lr)`;
    - `0 <= r < slow` for `patience` checks in a row (improving, slowly):
      `lr = min(lr * increase, max_lr)`;
    - `r >= slow` (good progress): the LR is kept.

    When to use it: when you do not trust the initial learning rate and the
    loss is smooth enough between checks (monitor every epoch, or every N
    batches with `smoothing`); it recovers from a rate a decade too small in
    a few dozen checks. For a known-good schedule, prefer
    `ReduceLROnPlateau`, which only ever lowers it; to survive spikes, add
    `DivergenceGuard`.

    Args:
        monitor: String. Defaults to `"loss"`.
        increase: Float > 1. Factor when progress is slow. Defaults to `1.1`.
        decrease: Float in (0, 1). Factor on a rise. Defaults to `0.5`.
        slow: Float >= 0. Relative improvement below which progress counts
            as slow. Defaults to `0.01` (1%).
        patience: Integer >= 1. Slow checks in a row before an increase.
            Defaults to `1`.
        min_lr: Float >= 0. Defaults to `0.0`.
        max_lr: Float > 0 or None (no upper bound). Defaults to `None`.
        mode: `"auto"`, `"min"` or `"max"`; `"auto"` as
            `ReduceLROnPlateau`. Defaults to `"auto"`.
        warmup: Integer >= 0. Checks ignored at the start. Defaults to `0`.
        smoothing: Float in [0, 1). Beta of a bias-corrected moving average
            of the monitored value. Defaults to `0.0`.
        frequency: `"epoch"` or an integer number of batches (training
            loss). Defaults to `"epoch"`.
        verbose: 0 or 1. Defaults to `0`.

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    model.fit(x, y, epochs=50, callbacks=[keras_lr.callbacks.BoldDriver()])
    ```
    """

    def __init__(self, monitor="loss", increase=1.1, decrease=0.5, slow=0.01,
                 patience=1, min_lr=0.0, max_lr=None, mode="auto", warmup=0,
                 smoothing=0.0, frequency="epoch", verbose=0):
        super().__init__(monitor, frequency, verbose, warmup, smoothing)
        self.increase = _validation.require_number(
            "increase", increase, minimum=1, min_inclusive=False)
        self.decrease = _validation.require_number(
            "decrease", decrease, minimum=0, maximum=1, min_inclusive=False,
            max_inclusive=False)
        self.slow = _validation.require_non_negative("slow", slow)
        self.patience = _validation.require_int("patience", patience, minimum=1)
        self.min_lr = _validation.require_non_negative("min_lr", min_lr)
        if max_lr is not None:
            max_lr = _validation.require_positive("max_lr", max_lr)
            if max_lr < self.min_lr:
                raise ValueError(
                    f"Argument `max_lr` must be >= min_lr={self.min_lr}. "
                    f"Received: max_lr={max_lr}")
        self.max_lr = max_lr
        self.mode = validate_mode(mode)
        self._minimize = None  # decided at the first check (Keras 3's "auto")

    def _defaults(self):
        return dict(super()._defaults(), previous=math.nan, slow_checks=0.0, increases=0.0,
                    decreases=0.0)

    def _per_fit(self):
        # The LR it reached carries over to the next fit, and so do its counts.
        return ["checks", "average", "previous", "slow_checks"]

    @property
    def increases(self):
        return int(self._get("increases"))

    @property
    def decreases(self):
        return int(self._get("decreases"))

    def check(self, value):
        if self._minimize is None:
            self._minimize = is_min_mode(self.mode, self.monitor, self.model)
        checks, value = self._count_and_smooth(value)
        previous = self._get("previous")
        value = float(np.float32(value))  # as stored, so checks compare alike
        self._set("previous", value)
        if checks <= self.warmup or not (np.isfinite(previous) and np.isfinite(value)):
            return
        change = (previous - value) / max(abs(previous), 1e-12)
        if not self._minimize:
            change = -change
        if change < 0:
            self._set("slow_checks", 0)
            old, new = self._multiply(self.decrease, min_lr=self.min_lr,
                                      max_lr=self.max_lr or math.inf)
            self._set("decreases", self.decreases + 1)
            self._say(f"{self.monitor} got worse: learning rate {old:.4g} -> {new:.4g}.")
        elif change < self.slow:
            slow_checks = self._get("slow_checks") + 1
            self._set("slow_checks", slow_checks)
            if slow_checks >= self.patience:
                self._set("slow_checks", 0)
                old, new = self._multiply(self.increase, min_lr=self.min_lr,
                                          max_lr=self.max_lr or math.inf)
                self._set("increases", self.increases + 1)
                self._say(f"slow progress: learning rate {old:.4g} -> {new:.4g}.")
        else:
            self._set("slow_checks", 0)

    def get_config(self):
        return {
            "monitor": self.monitor, "increase": self.increase,
            "decrease": self.decrease, "slow": self.slow,
            "patience": self.patience, "min_lr": self.min_lr,
            "max_lr": self.max_lr, "mode": self.mode, "warmup": self.warmup,
            "smoothing": self.smoothing, "frequency": self.frequency,
            "verbose": self.verbose,
        }
