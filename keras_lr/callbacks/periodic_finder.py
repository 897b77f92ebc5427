"""`PeriodicLRFinder`: the range test re-run during training, acted on."""

import math

import numpy as np

from keras_lr import _validation
from keras_lr.callbacks._control import LRController
from keras_lr._core.learning_rate import LearningRate
from keras_lr.finder import find_lr
from keras_lr.finder.range_test import check_data
from keras_lr.finder.result import suggestion_method
from keras_lr.finder.suggestions import UnreliableCurveError

__all__ = ["PeriodicLRFinder"]


class PeriodicLRFinder(LRController):
    """Re-runs a short LR range test every few epochs and follows it.

    fastai users re-run `lr_find` by hand after some epochs, because the
    right learning rate moves as the loss landscape changes; this callback
    does it for them. At the end of every `every`-th epoch it runs
    `keras_lr.find_lr` on a sample of `x` (the model, its optimizer state,
    metrics and compiled functions are restored exactly afterwards, so the
    training run continues as if nothing happened), and rescales the
    learning rate so that the rate the next step uses equals the new
    suggestion, within bounds:

    `factor = clip(suggestion / lr_now, 1 / max_factor, max_factor)`,
    `lr = clip(lr * factor, min_lr, max_lr)`

    A float learning rate is set; a schedule (one-cycle, cosine, ...) is
    scaled as a whole, keeping its shape (as `ReduceLROnPlateau` scales it).
    The scale lives in the optimizer's variables, so `.keras` files and
    `BackupAndRestore` bring it back; the callback must stand before
    `BackupAndRestore` / `ModelCheckpoint` (it says so otherwise). A sweep
    without a reliable suggestion leaves the rate alone (and says so with
    `verbose=1`).

    The sweep runs from `lr_now * span[0]` to `lr_now * span[1]` (by default
    a hundredth to a thousand times the current rate: the loss's minimum,
    which the default suggestion divides by 10, must lie inside): a short
    test around where training is, not fastai's full 1e-7 to 10.

    Args:
        x: Data for the range tests, as for `find_lr` (arrays, a dataset, a
            `PyDataset`); usually (a sample of) the training data.
        y: Targets, with array `x`.
        every: Integer >= 1. Run a test after every `every` epochs. Defaults
            to `5`.
        num_steps: Integer >= 10. Steps of each sweep. Defaults to `100`.
        span: `(low, high)` multiples of the current rate the sweep spans,
            `low < 1 < high`. Defaults to `(1e-2, 1e3)`.
        sample: Optional count or fraction of `x` per test, as for
            `find_lr`.
        batch_size: Integer, with array data. Defaults to `32`.
        repeats: Integer >= 1. Sweeps per test (the median suggestion).
            Defaults to `1`.
        method: The suggestion method. Defaults to `"minimum"`.
        max_factor: Float > 1. The most one test may scale the rate by, up
            or down. Defaults to `10`.
        min_lr: Float >= 0. Defaults to `0.0`.
        max_lr: Float > 0 or None. Defaults to `None`.
        seed: Optional integer: the test after epoch `e` draws its sample
            and batch order with seed `seed + e`, so that a resumed run
            repeats the same tests. Defaults to `None` (random).
        verbose: 0 or 1. Defaults to `1`.

    Attributes:
        results: List of `(epoch, LRFinderResult)`, one per test this `fit`.

    Raises:
        ValueError: if an argument is out of range, or `x` is a generator
            or iterator (the first test would use it up); at the start of
            `fit`, if it stands after `BackupAndRestore` / `ModelCheckpoint`,
            the optimizer learns its own rate (`Hypergradient`) or estimates
            its own step size (`Prodigy`, `Mechanic`, ...).

    Example:

    ```python
    finder = keras_lr.callbacks.PeriodicLRFinder(x_train[:2000], y_train[:2000], every=3)
    model.fit(x_train, y_train, epochs=30, callbacks=[finder])
    ```
    """

    def __init__(self, x, y=None, *, every=5, num_steps=100, span=(1e-2, 1e3), sample=None,
                 batch_size=None, repeats=1, method="minimum", max_factor=10.0,
                 min_lr=0.0, max_lr=None, seed=None, verbose=1):
        super().__init__("loss", "epoch", verbose)
        # Checked now, not at the first test `every` epochs into training.
        check_data(x, y, batch_size, sample, reusable=True)
        suggestion_method(method)
        self.x, self.y = x, y
        self.every = _validation.require_int("every", every, minimum=1)
        self.num_steps = _validation.require_int("num_steps", num_steps, minimum=10)
        if not isinstance(span, (tuple, list)) or len(span) != 2:
            raise ValueError(
                f"Argument `span` must be a pair `(low, high)`. Received: span={span!r}")
        low = _validation.require_positive("span[0]", span[0])
        high = _validation.require_positive("span[1]", span[1])
        if not low < 1 < high:
            raise ValueError(
                "Argument `span` must be `(low, high)` with low < 1 < high (multiples "
                f"of the current learning rate). Received: span={span!r}")
        self.span = (low, high)
        self.sample = sample
        self.batch_size = batch_size
        self.repeats = _validation.require_int("repeats", repeats, minimum=1)
        self.method = method
        self.max_factor = _validation.require_number(
            "max_factor", max_factor, minimum=1, min_inclusive=False)
        self.min_lr = _validation.require_non_negative("min_lr", min_lr)
        self.max_lr = math.inf if max_lr is None else _validation.require_positive(
            "max_lr", max_lr)
        if self.min_lr >= self.max_lr:
            raise ValueError(
                "Argument `min_lr` must be < `max_lr`. Received: "
                f"min_lr={min_lr!r}, max_lr={max_lr!r}")
        if seed is not None:
            _validation.require_int("seed", seed, minimum=0)
        self.seed = seed
        self.async_safe = False  # it trains inside on_epoch_end
        self.results = []

    def _state_name(self):
        return type(self).__name__

    def _defaults(self):
        return dict(super()._defaults(), tests=0.0, changes=0.0)

    @property
    def tests(self):
        """Range tests run in this `fit`."""
        return int(self._get("tests"))

    @property
    def changes(self):
        """Tests that changed the learning rate in this `fit`."""
        return int(self._get("changes"))

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        estimator = LearningRate(self.model.optimizer).estimates_step_size()
        if estimator is not None:
            raise ValueError(
                f"PeriodicLRFinder follows a range test of the learning rate, but "
                f"{type(estimator).__name__} estimates its own step size: its "
                "`learning_rate` is a multiplier of that estimate, which a range test "
                "cannot tell (the estimate moves during the sweep). Use it without "
                "PeriodicLRFinder, or a standard optimizer with it.")
        self.results = []

    def check(self, value):
        pass  # it acts on range tests, not on a monitored value

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if (epoch + 1) % self.every:
            return
        model = self.model
        current = self.current_learning_rate()
        if not current > 0:
            self._say("skips the range test: the learning rate is 0.")
            return
        start_lr, end_lr = current * self.span[0], current * self.span[1]
        stop_training = model.stop_training
        result = find_lr(model, self.x, self.y, batch_size=self.batch_size,
                         start_lr=start_lr, end_lr=end_lr, num_steps=self.num_steps,
                         sample=self.sample, repeats=self.repeats, verbose=0,
                         seed=None if self.seed is None else self.seed + epoch)
        model.stop_training = stop_training
        self.results.append((epoch, result))
        self._set("tests", self._get("tests") + 1)
        try:
            suggestion = result.suggestion(self.method)
        except UnreliableCurveError as e:
            self._say(f"keeps the learning rate {current:.2e}: {e}")
            return
        factor = float(np.clip(suggestion / current, 1 / self.max_factor, self.max_factor))
        changed = self._multiply(factor, self.min_lr, self.max_lr)
        if changed is None or changed[0] == changed[1]:
            self._say(f"suggests {suggestion:.2e}; the learning rate stays "
                      f"{current:.2e} (bounds).")
            return
        self._set("changes", self._get("changes") + 1)
        self._say(f"suggests {suggestion:.2e}: learning rate {changed[0]:.2e} -> "
                  f"{changed[1]:.2e}.")
