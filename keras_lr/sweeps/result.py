"""`SweepResult`: the histories and trained copies of a `keras_lr.sweep`."""

import json
import math

import numpy as np

__all__ = ["SweepResult"]

_UP = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")


class SweepResult:
    """What `keras_lr.sweep` returns: one training history per learning rate.

    Attributes:
        learning_rates: The learning rates, in the order given.
        histories: One dict per learning rate, like `History.history`: each
            key (`"loss"`, the compiled metrics, `"val_"` ones with validation
            data) maps to one value per epoch. A copy that diverged has NaN
            from the epoch it diverged in.
        diverged_at: Per learning rate, the step at which the copy diverged
            and stopped updating, or None.
        dropped_at: Per learning rate, the step at which successive halving
            dropped the copy (`keras_lr.sweeps.halving_grid`), or None.
        directions: The direction of each metric (`"min"` or `"max"`).
    """

    def __init__(self, learning_rates, histories, diverged_at, directions=None,
                 exporter=None, weights=None, dropped_at=None):
        self.learning_rates = [float(lr) for lr in learning_rates]
        self.histories = histories
        self.diverged_at = list(diverged_at)
        self.dropped_at = list(dropped_at) if dropped_at is not None else [None] * len(
            self.learning_rates)
        self.directions = dict(directions or {})
        self._exporter = exporter
        self._weights = weights

    def __repr__(self):
        best = self.best() if self.histories and self.histories[0] else None
        return (f"<SweepResult {len(self.learning_rates)} learning rates, best "
                f"{best if best is None else f'{best:.3g}'} by {self._default_metric()!r}, "
                f"{sum(d is not None for d in self.diverged_at)} diverged>")

    def _default_metric(self):
        keys = self.histories[0].keys() if self.histories else ()
        return "val_loss" if "val_loss" in keys else "loss"

    def direction(self, metric):
        """`"min"` or `"max"`: whether a lower or a higher `metric` is better."""
        if metric in self.directions:
            return self.directions[metric]
        name = metric[4:] if metric.startswith("val_") else metric
        if name in self.directions:
            return self.directions[name]
        return "max" if any(part in name for part in _UP) else "min"

    def final(self, metric=None):
        """The last epoch's `metric` for each learning rate (NaN if diverged)."""
        metric = metric or self._default_metric()
        self._check_metric(metric)
        return [h[metric][-1] if h[metric] else math.nan for h in self.histories]

    def _check_metric(self, metric):
        keys = sorted(self.histories[0]) if self.histories else []
        if metric not in keys:
            raise ValueError(
                f"Argument `metric` must be one of the recorded metrics {keys}. "
                f"Received: metric={metric!r}")

    def best_index(self, metric=None, mode="auto"):
        """The index of the best learning rate by the last epoch's `metric`
        (default `"val_loss"`, or `"loss"` without validation data)."""
        metric = metric or self._default_metric()
        values = np.array(self.final(metric), dtype="float64")
        if mode == "auto":
            mode = self.direction(metric)
        if mode not in ("min", "max"):
            raise ValueError(
                f"Argument `mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}")
        if np.all(np.isnan(values)):
            steps = sorted({s for s in self.diverged_at if s is not None})
            hint = (f" They all stopped at step {steps[0]}: a NaN or inf in that batch of "
                    "the data is the usual cause." if len(steps) == 1 else "")
            raise ValueError(f"Every learning rate diverged: no best by {metric!r}.{hint}")
        return int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))

    def best(self, metric=None, mode="auto"):
        """The best learning rate by the last epoch's `metric`."""
        return self.learning_rates[self.best_index(metric, mode)]

    def weights(self, index):
        """The trained weights of copy `index`, in `model.get_weights()` order."""
        self._check_index(index)
        if self._weights is None:
            raise ValueError("This result holds no weights (it was loaded from a dict).")
        return [np.array(w) for w in self._weights(index)]

    def export(self, index=None):
        """A new Keras model holding copy `index`'s trained weights (default:
        the best), compiled as the swept model with its optimizer at that
        learning rate (fresh optimizer state)."""
        index = self.best_index() if index is None else index
        self._check_index(index)
        if self._exporter is None:
            raise ValueError("This result holds no model (it was loaded from a dict).")
        return self._exporter(index)

    def _check_index(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self.learning_rates):
            raise ValueError(
                f"Argument `index` must be an integer in [0, {len(self.learning_rates)}). "
                f"Received: index={index!r}")

    def to_dict(self):
        """A JSON-compatible dict (NaN written as None)."""
        def clean(values):
            return [None if (isinstance(v, float) and math.isnan(v)) else v for v in values]

        return {"learning_rates": self.learning_rates,
                "histories": [{k: clean(v) for k, v in h.items()} for h in self.histories],
                "diverged_at": self.diverged_at, "dropped_at": self.dropped_at,
                "directions": self.directions}

    def to_json(self, path=None):
        """The dict as JSON text; written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    @classmethod
    def from_dict(cls, config):
        """The result of `to_dict` (histories only: no weights, no export)."""
        histories = [{k: [math.nan if v is None else v for v in values]
                      for k, values in h.items()} for h in config["histories"]]
        return cls(config["learning_rates"], histories, config["diverged_at"],
                   config.get("directions"), dropped_at=config.get("dropped_at"))

    def plot(self, metric=None, ax=None):
        """Two panels: the final `metric` against the learning rate (log
        scale, the best marked, diverged rates crossed) and its curves over
        the epochs, one per learning rate.

        Returns:
            The matplotlib `Figure` (or the figure of `ax`, a pair of axes).
        """
        import matplotlib.pyplot as plt

        metric = metric or self._default_metric()
        self._check_metric(metric)
        if ax is None:
            fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        else:
            fig = ax[0].figure
        final = np.array(self.final(metric), dtype="float64")
        rates = np.array(self.learning_rates)
        ok = ~np.isnan(final)
        ax[0].plot(rates[ok], final[ok], "o-", color="C0")
        for rate in rates[~ok]:
            ax[0].axvline(rate, color="C3", linestyle=":", alpha=0.6)
        ax[0].plot([], [], color="C3", linestyle=":", label="diverged")
        if ok.any():
            best = self.best_index(metric)
            ax[0].plot(rates[best], final[best], "*", color="C1", markersize=14,
                       label=f"best {rates[best]:.2g}")
        ax[0].set_xscale("log")
        ax[0].set_xlabel("learning rate")
        ax[0].set_ylabel(f"final {metric}")
        ax[0].legend(loc="best", fontsize=8)
        colors = plt.get_cmap("viridis")(np.linspace(0, 1, len(rates)))
        for rate, history, color in zip(rates, self.histories, colors):
            values = history[metric]
            ax[1].plot(range(1, len(values) + 1), values, color=color, label=f"{rate:.2g}")
        from matplotlib.ticker import MaxNLocator

        ax[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        ax[1].set_xlabel("epoch")
        ax[1].set_ylabel(metric)
        if len(rates) <= 10:
            ax[1].legend(title="learning rate", fontsize=7)
        fig.tight_layout()
        return fig
