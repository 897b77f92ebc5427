"""The result of a learning-rate range test."""

import json
import math
import os

import numpy as np

from keras_lr import _optional
from keras_lr import _validation
from keras_lr._core.batch_loss import BiasCorrectedAverage
from keras_lr.finder import suggestions as _suggestions

__all__ = ["FinderWarning", "LRFinderResult", "MAX_PASSES", "STOP_REASONS", "smooth",
           "suggestion_method"]


def smooth(losses, beta):
    """Bias-corrected moving average of a curve; from the first non-finite
    loss on, the values are NaN (the sweep diverged there)."""
    out = np.full(len(losses), np.nan)
    average = BiasCorrectedAverage(beta)
    for i, loss in enumerate(losses):
        if not np.isfinite(loss):
            break
        out[i] = average.update(loss)
    return out


# Why a sweep ended: each value, what it means. `summary()` and the finder's
# warnings use them; docs/lr_finder.md lists them.
STOP_REASONS = {
    "completed": "the sweep ran all its steps without diverging",
    "diverged": "the smoothed loss rose above `diverge_threshold` times its best",
    "nan": "the loss became NaN or infinite",
    "nan_weights": "the weights became NaN or infinite while the loss was finite "
                   "(a bad row in the data)",
    "data": "the data ran out before `num_steps`",
    "no data": "the data gave no batch",
    "mixed": "the repeated sweeps ended for different reasons (see `runs`)",
}


class FinderWarning(UserWarning):
    """A range test whose answer should not be trusted as it is (why, and
    what to do, in the message)."""


# A sweep that reads its data more often than this many times: its later
# steps see rows the model has fitted, the loss falls for that reason too.
MAX_PASSES = 5


class LRFinderResult:
    """Learning rates and losses of a range test, with suggestions and a plot.

    Attributes:
        learning_rates: NumPy array, the learning rate of each sweep step.
        losses: NumPy array, the loss of each step's own batch (not Keras's
            running epoch mean). With `repeats > 1`, the element-wise median
            over the runs.
        smoothed_losses: NumPy array, the bias-corrected moving average
            (`smoothing` beta) the suggestions and the divergence stop use.
        validation_losses: NumPy array or None, the validation loss after
            each step when `validation_data` was given.
        stop_reason: String, why the sweep ended (`STOP_REASONS`):
            `"completed"`, `"diverged"` (smoothed loss above
            `diverge_threshold` times the best), `"nan"` (a NaN or infinite
            loss), `"nan_weights"` (NaN or infinite weights behind a finite
            loss), `"data"` (the data ran out), `"no data"` or, for repeats
            that ended differently, `"mixed"`.
        config: Dict of the sweep's settings.
        runs: Tuple of per-run results when `repeats > 1`, else empty.

    Example:

    ```python
    result = keras_lr.find_lr(model, x, y)
    lr = result.suggestion()                  # "minimum"
    low, high = result.suggest_range()
    result.plot().savefig("lr_find.png")
    ```
    """

    def __init__(self, learning_rates, losses, smoothed_losses=None,
                 validation_losses=None, stop_reason="completed", config=None,
                 runs=()):
        self.learning_rates = _suggestions.curve_array("learning_rates", learning_rates)
        self.losses = _suggestions.curve_array("losses", losses)
        self.config = dict(config or {})
        if smoothed_losses is None:
            smoothed_losses = smooth(self.losses, self.config.get("smoothing", 0.0))
        self.smoothed_losses = _suggestions.curve_array("smoothed_losses", smoothed_losses)
        self.validation_losses = (
            None if validation_losses is None
            else _suggestions.curve_array("validation_losses", validation_losses))
        for name in ("losses", "smoothed_losses", "validation_losses"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.learning_rates):
                raise ValueError(
                    f"Argument `{name}` must have one value per learning rate "
                    f"({len(self.learning_rates)}). Received {len(values)} values")
        self.stop_reason = _validation.require_one_of(
            "stop_reason", stop_reason, tuple(STOP_REASONS))
        self.runs = tuple(runs)
        self.notes = []  # what makes the answer less reliable, with what to do

    def __len__(self):
        return len(self.learning_rates)

    def __repr__(self):
        parts = [f"steps={len(self)}", f"stop_reason={self.stop_reason!r}",
                 f"repeats={max(1, len(self.runs))}"]
        try:
            spread = self.suggestion_spread()
            parts.append(f"suggestion={self.suggestion():.3g}")
            if self.runs:
                parts.append(f"spread=({spread['min']:.3g}, {spread['max']:.3g})")
            low, high = self.suggest_range()
            parts.append(f"range=({low:.3g}, {high:.3g})")
        except _suggestions.UnreliableCurveError:
            parts.append("suggestion=None")
        return f"LRFinderResult({', '.join(parts)})"

    def summary(self):
        """One line: the suggestion, its spread over the repeats, the range.

        Returns:
            A string, e.g. `"300 steps x 3 sweeps, stopped (diverged) at
                lr=2.1e+00; constant LR 6.8e-03 (minimum; sweeps 5.0e-03 to
                9.1e-03); one-cycle / cyclical range 4.2e-04 to 1.6e-02"`.
        """
        runs = len(self.runs) or 1
        last = self.learning_rates[-1] if len(self) else float("nan")
        cautions = self.reliability()
        text = (f"{len(self)} steps" + (f" x {runs} sweeps" if runs > 1 else "")
                + f", stopped ({self.stop_reason}) at lr={last:.1e}; ")
        try:
            spread = self.suggestion_spread()
            text += f"constant LR {self.suggestion():.1e} ({_suggestions.DEFAULT_METHOD}"
            if runs > 1:
                text += f"; sweeps {spread['min']:.1e} to {spread['max']:.1e}"
                if spread["failed"]:
                    text += f", {spread['failed']} without a suggestion"
            low, high = self.suggest_range()
            text += f"); one-cycle / cyclical range {low:.1e} to {high:.1e}"
        except _suggestions.UnreliableCurveError as e:
            text += f"no reliable suggestion: {e}"
        for caution in cautions:
            text += f". Caution: {caution}"
        return text

    def reliability(self):
        """What makes this curve's answer less reliable, with what to do.

        - the sweep ran all its steps and the loss was still falling at its
          end (its lowest point in the last tenth of the usable curve): the
          answer is bounded by `end_lr`, not by where the loss stops falling;
        - the notes the range test made (data read many times over).

        Returns:
            A list of messages (empty when nothing is known to be wrong). A
            curve with no answer at all raises `UnreliableCurveError` from
            `suggestion()` instead.
        """
        messages = list(self.notes)
        try:
            lrs, losses = _suggestions.clean_curve(
                self.learning_rates, self._curve(), len(self.learning_rates) // 10, 5)
        except _suggestions.UnreliableCurveError:
            return messages
        lowest = int(np.argmin(losses))
        if self.stop_reason == "completed" and lowest >= len(losses) - max(1, len(losses) // 10):
            messages.append(
                f"the loss was still falling at the end of the sweep (lowest at "
                f"lr={lrs[lowest]:.2g}, near end_lr={self.config.get('end_lr', lrs[-1]):.2g}): "
                "the suggestion is limited by the sweep's range. Raise `end_lr`.")
        return messages

    def one_cycle(self, total_steps=None, *, epochs=None, steps_per_epoch=None, **kwargs):
        """A `keras_lr.schedules.OneCycle` from this range test.

        The peak is `suggest_range()[1]` and the start `suggest_range()[0]`
        (`div_factor = max_lr / min_lr`): the cycle rises from where the
        loss begins to fall to just below where it stops falling (Smith).
        For training at one constant rate use `suggestion()` instead.

        Args:
            total_steps: Integer, the cycle's length (or `epochs` and
                `steps_per_epoch`).
            epochs: Optional integer, with `steps_per_epoch`.
            steps_per_epoch: Optional integer, with `epochs`.
            **kwargs: Other `OneCycle` arguments (`pct_start`,
                `final_div_factor`, ...); `div_factor` overrides the range's.

        Returns:
            A `keras_lr.schedules.OneCycle`.

        Raises:
            keras_lr.finder.UnreliableCurveError: as `suggest_range`.
        """
        from keras_lr.schedules import OneCycle

        low, high = self.suggest_range()
        kwargs.setdefault("div_factor", high / low)
        return OneCycle(high, total_steps, epochs=epochs,
                        steps_per_epoch=steps_per_epoch, **kwargs)

    def _curve(self):
        """The curve suggestions use: validation losses if any, else smoothed."""
        if self.validation_losses is not None:
            return self.validation_losses
        return self.smoothed_losses

    def _suggest_one(self, method, **kwargs):
        fn = _method(method)
        lrs, losses = self.learning_rates, self._curve()
        skip_start, skip_end = len(lrs) // 10, 5
        lrs, losses = _suggestions.clean_curve(lrs, losses, skip_start, skip_end)
        return fn(lrs, losses, **kwargs)

    def suggestion(self, method=_suggestions.DEFAULT_METHOD, **kwargs):
        """A learning rate for training at a constant rate (or as a peak).

        Args:
            method: `"minimum"` (the LR of the lowest loss / 10),
                `"valley"` (fastai's default: the middle of the longest
                descent; measured up to 0.9 decades below the best constant
                LR), `"steep"` (steepest descent of the loss against
                `log10(lr)`, searched before the minimum) or `"slide"`, or a
                callable `(learning_rates, losses) -> float`. Defaults to
                `"minimum"`, the only method within half a decade of the best
                constant LR on every task of `benchmarks/finder_quality.py`.
            **kwargs: Passed to the method.

        As in fastai, the first tenth of the points and the last 5 are
        ignored. With `repeats > 1` it is the median of the runs'
        suggestions (see `suggestion_spread`).

        Returns:
            A float.

        Raises:
            keras_lr.finder.UnreliableCurveError: (a `ValueError`) when the
                curve gives no reliable answer: all NaN, too short, or flat;
                the message says why and what to change.
        """
        if self.runs:
            return float(np.median(self.suggestion_spread(method, **kwargs)["values"]))
        return self._suggest_one(method, **kwargs)

    def suggestion_spread(self, method=_suggestions.DEFAULT_METHOD, **kwargs):
        """How much the suggestion moves between repeated sweeps.

        Returns:
            A dict: `values` (one suggestion per run whose curve supports
            one), `median`, `min`, `max`, `decades` (`log10(max / min)`) and
            `failed` (the number of runs without a reliable suggestion).

        Raises:
            keras_lr.finder.UnreliableCurveError: if no run gives one.
        """
        runs = self.runs or (self,)
        values, reasons = [], []
        for run in runs:
            try:
                values.append(run._suggest_one(method, **kwargs))
            except _suggestions.UnreliableCurveError as e:
                reasons.append(str(e))
        if not values:
            raise _suggestions.UnreliableCurveError(
                f"No run gives a reliable suggestion: {reasons[0]}"
            )
        low, high = min(values), max(values)
        return {
            "values": values, "median": float(np.median(values)),
            "min": low, "max": high, "decades": math.log10(high / low),
            "failed": len(reasons),
        }

    def suggest_range(self):
        """A `(min_lr, max_lr)` pair for cyclical and one-cycle schedules.

        `max_lr` is a third of the learning rate of the lowest loss, where the
        loss still falls (Smith: "where the loss stops decreasing", with a
        margin); `min_lr` is where the descent begins (the loss has fallen a
        tenth of its total drop), at most `max_lr / 3`. Use them as
        `CyclicalLearningRate(min_lr, max_lr, ...)` or `OneCycle(max_lr, ...,
        div_factor=max_lr / min_lr)`.

        Returns:
            A tuple of two floats, `min_lr < max_lr`.

        With `repeats > 1` each bound is the median of the runs' (as
        `suggestion()` is the median of the runs' suggestions), so the two
        agree on whether there is an answer: when at least one run has one.

        Raises:
            keras_lr.finder.UnreliableCurveError: as `suggestion`.
        """
        if self.runs:
            pairs, reasons = [], []
            for run in self.runs:
                try:
                    pairs.append(run.suggest_range())
                except _suggestions.UnreliableCurveError as e:
                    reasons.append(str(e))
            if not pairs:
                raise _suggestions.UnreliableCurveError(
                    f"No run gives a reliable range: {reasons[0]}")
            low = float(np.median([p[0] for p in pairs]))
            high = float(np.median([p[1] for p in pairs]))
            return min(low, high / 3.0), high
        lrs, losses = _suggestions.clean_curve(
            self.learning_rates, self._curve(), len(self.learning_rates) // 10, 5
        )
        lowest = int(np.argmin(losses))
        max_lr = float(lrs[lowest] / 3.0)
        drop = losses[0] - losses[lowest]
        start = int(np.argmax(losses <= losses[0] - 0.1 * drop))
        min_lr = float(min(lrs[start], max_lr / 3.0))
        return min_lr, max_lr

    def plot(self, ax=None, suggestions=("minimum", "valley", "steep"), show_range=True):
        """Plots the loss against the learning rate on a log axis.

        Args:
            ax: Optional matplotlib `Axes`. Defaults to a new figure.
            suggestions: Methods whose suggestion is marked on the curve.
            show_range: Bool. Shade `suggest_range()`. Defaults to `True`.

        Returns:
            The matplotlib `Figure` (the figure of `ax` when one is given), as
            every `plot` in keras-lr returns: `result.plot().savefig(path)`.

        Raises:
            ImportError: if matplotlib is not installed.
        """
        plt = _optional.import_optional("matplotlib.pyplot", "LRFinderResult.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4))
        labels = {"minimum": "minimum (lowest loss / 10)", "valley": "valley",
                  "steep": "steepest descent", "slide": "slide"}
        if self.runs:
            # The repeats as a band: min to max of the sweeps' smoothed losses.
            length = min(len(run) for run in self.runs)
            stack = np.stack([run.smoothed_losses[:length] for run in self.runs])
            with np.errstate(all="ignore"):
                ax.fill_between(self.learning_rates[:length], np.nanmin(stack, axis=0),
                                np.nanmax(stack, axis=0), color="tab:blue", alpha=0.2,
                                linewidth=0, label=f"{len(self.runs)} sweeps (min to max)")
        else:
            ax.plot(self.learning_rates, self.losses, color="tab:blue", alpha=0.3,
                    linewidth=0.8, label="batch loss")
        ax.plot(self.learning_rates, self.smoothed_losses, color="tab:blue",
                label="smoothed loss" + (" (median)" if self.runs else ""))
        if self.validation_losses is not None:
            ax.plot(self.learning_rates, self.validation_losses, color="tab:green",
                    label="validation loss")
        curve = self._curve()
        markers = {"valley": "o", "steep": "v", "minimum": "s", "slide": "D"}
        for method in suggestions:
            try:
                lr = self.suggestion(method)
            except _suggestions.UnreliableCurveError:
                continue
            y = np.interp(np.log10(lr), np.log10(self.learning_rates),
                          np.nan_to_num(curve, nan=np.nanmax(curve)))
            ax.plot([lr], [y], linestyle="none", marker=markers.get(method, "o"),
                    markersize=8, label=f"{labels.get(method, method)}: {lr:.2e}")
        if show_range:
            try:
                low, high = self.suggest_range()
                ax.axvspan(low, high, color="tab:orange", alpha=0.12,
                           label=f"range: {low:.1e} - {high:.1e}")
            except _suggestions.UnreliableCurveError:
                pass
        ax.set_xscale("log")
        finite = curve[np.isfinite(curve)]
        if finite.size:
            low, high = float(finite.min()), float(finite[: max(1, len(finite) // 10)].max())
            margin = 0.1 * max(high - low, 1e-8)
            ax.set_ylim(low - margin, max(high, float(finite[0])) + 3 * margin)
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
        if not ax.get_title():
            ax.set_title("Learning-rate range test", fontsize=10)
        return ax.figure

    def to_dict(self):
        """A JSON-serializable dict (NaN stored as None)."""
        def floats(a):
            return None if a is None else [None if not np.isfinite(v) else float(v) for v in a]

        return {
            "learning_rates": floats(self.learning_rates),
            "losses": floats(self.losses),
            "smoothed_losses": floats(self.smoothed_losses),
            "validation_losses": floats(self.validation_losses),
            "stop_reason": self.stop_reason,
            "config": self.config,
            "runs": [run.to_dict() for run in self.runs],
            "notes": list(self.notes),
        }

    def to_json(self, path=None):
        """The result as JSON text; also written to `path` when given."""
        text = json.dumps(self.to_dict())
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    @classmethod
    def from_dict(cls, data):
        """Rebuilds a result from `to_dict()` output."""
        def arr(values):
            return None if values is None else np.array(
                [np.nan if v is None else v for v in values], dtype="float64")

        result = cls(
            arr(data["learning_rates"]), arr(data["losses"]),
            arr(data["smoothed_losses"]), arr(data.get("validation_losses")),
            data.get("stop_reason", "completed"), data.get("config"),
            [cls.from_dict(run) for run in data.get("runs", [])],
        )
        result.notes = list(data.get("notes", []))
        return result

    @classmethod
    def from_json(cls, text_or_path):
        """Rebuilds a result from `to_json()` text or a file path."""
        text = text_or_path
        if isinstance(text_or_path, os.PathLike) or not str(text_or_path).lstrip().startswith("{"):
            with open(text_or_path) as f:
                text = f.read()
        return cls.from_dict(json.loads(text))


def suggestion_method(method):
    """Checks a suggestion method (a name or a callable); returns it."""
    _method(method)
    return method


def _method(method):
    if callable(method):
        def checked(lrs, losses, **kwargs):
            value = method(lrs, losses, **kwargs)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not (math.isfinite(number) and number > 0):
                raise ValueError(
                    f"The suggestion function {getattr(method, '__name__', method)!r} "
                    "must return a finite learning rate > 0. "
                    f"Received: {value!r}")
            return number
        return checked
    return _suggestions.METHODS[
        _validation.require_one_of("method", method, tuple(_suggestions.METHODS))
    ]
