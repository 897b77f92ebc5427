"""`halving_grid`: successive halving of a learning-rate grid, in one sweep."""

import math

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.data import steps_per_epoch_of
from keras_lr.sweeps import _data
from keras_lr.sweeps import training
from keras_lr.sweeps._copies import Copies
from keras_lr.sweeps.short_horizon import DEFAULT_GRID

__all__ = ["halving_grid"]


def _direction(model, metric):
    name = metric[4:] if metric.startswith("val_") else metric
    if name == "loss":
        return "min"
    direction = keras_private.metric_direction(model, name)
    if direction is None:
        raise ValueError(
            f"Argument `metric` must be `val_loss` or `val_<metric>` of a compiled metric "
            f"with a known direction. Received: metric={metric!r}")
    return "max" if direction == "up" else "min"


def _rung_ends(total_steps, rungs):
    """The step each rung ends at: the last at `total_steps`, each earlier one
    at half the next (at least one step, strictly increasing)."""
    ends = []
    for r in range(rungs):
        ends.append(max(1, int(round(total_steps / 2 ** (rungs - 1 - r)))))
    return sorted(set(ends))


def halving_grid(model, x, y, *, epochs, learning_rates=DEFAULT_GRID, batch_size=32,
                 validation_data=None, validation_fraction=0.2, rungs=3, keep=0.5,
                 metric="val_loss", shuffle=True, shuffle_seed=0, verbose=0):
    """Suggests a constant learning rate by successive halving of a grid.

    One copy of the model per rate of `learning_rates` trains, all at once
    in one `keras_lr.sweep`, towards the budget you plan to train with
    (`epochs` at `batch_size`). After a first rung of `epochs / 2 **
    (rungs - 1)` epochs every copy is scored on held-out data and the worse
    half is dropped (`keep`); the others train on to twice that, and so on,
    so the last copies train the whole budget: what the full grid of fits
    answers, for the few rates that can still win, at the cost of a few
    fits. Each copy trains exactly as `model.fit` would at its rate (the
    same initial weights and batches), so the answer is the best rate of a
    grid trained to your budget, except where a rate that would have won
    looked worse than half the others early on.

    Cost: each rung trains the copies still in for as long as all earlier
    rungs together, so with `K` rates, `keep=0.5` and `R` rungs about `K /
    2 ** (R - 1) * (1 + (R - 1) / 2)` budgets of copies train: 21 rates and
    the default 3 rungs, about 11 budgets, which one sweep runs in a few
    fits' time (`docs/benchmarks.md` has the measured ratio to the full grid,
    and why 3 rungs: the first rung, at a quarter of the budget, is late
    enough that a rate that wins at the end is rarely in the worse half).

    Args:
        model: A compiled Keras model (left as it was; an unbuilt one is
            built).
        x: Input arrays.
        y: Target arrays.
        epochs: Integer >= 1, the budget you plan to train with: the last
            rung trains this many epochs.
        learning_rates: The grid. Defaults to 21 rates in quarter-decade
            steps from 1e-5 to 1.
        batch_size: Integer >= 1. Defaults to `32`.
        validation_data: Optional `(x_val, y_val)` to score on; by default
            the last `validation_fraction` of `x` is held out (as Keras's
            `validation_split`: shuffle sorted data first).
        validation_fraction: Float in (0, 1). Defaults to `0.2`.
        rungs: Integer >= 1, how many times the copies are scored (the
            first at `epochs / 2 ** (rungs - 1)`). Defaults to `3`.
        keep: Float in (0, 1), the fraction of copies kept at each rung.
            Defaults to `0.5`.
        metric: `"val_loss"` or `"val_<metric>"` of a compiled metric, what
            the copies are ranked by (its direction from the metric).
            Defaults to `"val_loss"`.
        shuffle: Boolean. Shuffle the training data each epoch (the same
            order for every copy). Defaults to `True`.
        shuffle_seed: Integer >= 0, the seed of the shuffling. Defaults to `0`.
        verbose: 0 or 1: a line per rung. Defaults to `0`.

    Returns:
        `(learning_rate, result)`: the suggestion (float) and the
        `keras_lr.sweeps.SweepResult`; `result.dropped_at` gives the step
        each rate was dropped at and `result.rungs` the scores at each rung.

    Raises:
        ValueError: for bad arguments, or when every rate diverged.

    Example:

    >>> lr, result = keras_lr.sweeps.halving_grid(model, x, y, epochs=10)  # doctest: +SKIP
    """
    _validation.require_type("model", model, keras.Model, "a compiled `keras.Model`")
    epochs = _validation.require_int("epochs", epochs, minimum=1)
    rates = training.validate_rates(learning_rates)
    batch_size = _validation.require_int("batch_size", batch_size, minimum=1)
    rungs = _validation.require_int("rungs", rungs, minimum=1)
    keep = _validation.require_number("keep", keep, minimum=0, maximum=1,
                                      min_inclusive=False, max_inclusive=False)
    _validation.require_bool("shuffle", shuffle)
    _validation.require_int("shuffle_seed", shuffle_seed, minimum=0)
    _validation.require_one_of("verbose", verbose, (0, 1))
    if x is None or y is None:
        raise ValueError("Arguments `x` and `y` are required: the grid trains on arrays.")
    _data.check_arrays({"x": x, "y": y})
    if not isinstance(metric, str) or not metric.startswith("val_"):
        raise ValueError(
            "Argument `metric` must be `val_loss` or `val_<metric>` (the copies are ranked "
            f"on held-out data). Received: metric={metric!r}")
    if keras_private.compile_arguments(model) is None:
        raise ValueError("halving_grid needs a compiled model: call `model.compile(...)`.")
    training.check_trains_as_fit(model)
    if validation_data is None:
        _validation.require_number("validation_fraction", validation_fraction, minimum=0,
                                   maximum=1, min_inclusive=False, max_inclusive=False)
        n = len(y)
        cut = n - max(1, int(round(n * validation_fraction)))
        validation_data = (x[cut:], y[cut:])
        x, y = x[:cut], y[:cut]
    elif not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "Argument `validation_data` must be `(x_val, y_val)` or `(x_val, y_val, "
            f"sample_weight)`. Received: validation_data={validation_data!r}")
    total = epochs * steps_per_epoch_of(x, y, batch_size=batch_size)
    copies = Copies(model, rates, x, y, None, batch_size=batch_size, shuffle=shuffle,
                    shuffle_seed=shuffle_seed, seeds=None, schedule=None, shape=1.0,
                    divergence_threshold=None, smoothing=0.9, memory_limit=None)
    sign = 1.0 if _direction(model, metric) == "min" else -1.0
    rung_scores = []
    for end in _rung_ends(total, rungs):
        copies.train_steps(end - copies.step)
        scores = copies.validate(validation_data, record=False)
        if metric not in scores:
            raise ValueError(
                f"Argument `metric` must be one of {sorted(scores)}. Received: "
                f"metric={metric!r}")
        values = scores[metric]
        rung_scores.append({"step": end, "scores": {
            rates[k]: float(v) for k, v in zip(copies.active, values)}})
        ranked = [copies.active[p] for p in np.argsort(
            np.where(np.isfinite(values), sign * values, math.inf), kind="stable")]
        if all(not np.isfinite(v) for v in values):
            raise ValueError(
                f"Every learning rate diverged by step {end}: no best by {metric!r}. A NaN "
                "or inf in the data is the usual cause when they all stop at once.")
        if verbose:
            keras_private.print_msg(
                f"halving_grid: step {end}/{total}, {len(ranked)} rates, best "
                f"{rates[ranked[0]]:.3g} ({metric} {float(values[copies.active.index(ranked[0])]):.4g})")
        if end < total:
            copies.keep(ranked[:max(1, math.ceil(len(ranked) * keep))])
    result = copies.result()
    result.rungs = rung_scores
    return rates[ranked[0]], result
