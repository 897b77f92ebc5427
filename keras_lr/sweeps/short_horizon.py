"""`short_horizon_grid`: a finder that trains K learning rates briefly, in
one sweep, and picks the best."""

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr.sweeps import _data
from keras_lr.sweeps import training
from keras_lr.sweeps.training import sweep

__all__ = ["DEFAULT_GRID", "short_horizon_grid"]

# Quarter-decade steps from 1e-5 to 1: 21 rates.
DEFAULT_GRID = tuple(float(v) for v in np.logspace(-5, 0, 21))


def short_horizon_grid(model, x, y, *, learning_rates=DEFAULT_GRID, num_steps=300,
                       batch_size=32, validation_data=None, validation_fraction=0.2,
                       metric="val_loss", verbose=0, **sweep_kwargs):
    """Suggests a learning rate by training each rate of a grid briefly.

    A learning-rate finder that, instead of one sweep of a growing rate
    (`keras_lr.find_lr`), trains one copy of the model per rate of
    `learning_rates` for `num_steps` steps, all at once with
    `keras_lr.sweep`, and returns the rate whose copy scores best on held-out
    data. It costs about one short `fit` of K copies; it answers the question
    the range test approximates ("which constant rate trains best?")
    directly, on a short horizon.

    Args:
        model: A compiled Keras model (left as it was).
        x: Input arrays.
        y: Target arrays.
        learning_rates: The grid. Defaults to 21 rates, quarter-decade steps
            from 1e-5 to 1 (`DEFAULT_GRID`).
        num_steps: Integer >= 1, the steps each copy trains (the data is
            cycled or cut to `num_steps * batch_size` rows). Defaults to `300`.
        batch_size: Integer >= 1. Defaults to `32`.
        validation_data: Optional `(x_val, y_val)` to score on; by default the
            last `validation_fraction` of `x` is held out (as Keras's
            `validation_split`: shuffle sorted data first).
        validation_fraction: Float in (0, 1). Defaults to `0.2`.
        metric: The history key to choose by (its direction from the
            compiled metric). Defaults to `"val_loss"`.
        verbose: 0 or 1. Defaults to `0`.
        **sweep_kwargs: Other `keras_lr.sweep` arguments (e.g. `seeds`,
            `divergence_threshold`).

    Returns:
        `(learning_rate, result)`: the suggestion (float) and the
        `keras_lr.sweeps.SweepResult` of the grid.

    Raises:
        ValueError: for bad arguments, or if every rate diverged.

    Example:

    >>> lr, result = keras_lr.sweeps.short_horizon_grid(model, x, y)  # doctest: +SKIP
    """
    num_steps = _validation.require_int("num_steps", num_steps, minimum=1)
    batch_size = _validation.require_int("batch_size", batch_size, minimum=1)
    _validation.require_type("model", model, keras.Model, "a compiled `keras.Model`")
    training.validate_rates(learning_rates)
    if x is None or y is None:
        raise ValueError("Arguments `x` and `y` are required: the grid trains on arrays.")
    _data.check_arrays({"x": x, "y": y})
    _check_metric(model, metric)
    if validation_data is not None and (
            not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3)):
        raise ValueError(
            "Argument `validation_data` must be `(x_val, y_val)` or `(x_val, y_val, "
            f"sample_weight)`. Received: validation_data={validation_data!r}")
    if validation_data is None:
        _validation.require_number("validation_fraction", validation_fraction, minimum=0,
                                   maximum=1, min_inclusive=False, max_inclusive=False)
        n = len(y)
        cut = n - max(1, int(round(n * validation_fraction)))
        validation_data = (x[cut:], y[cut:])
        x, y = x[:cut], y[:cut]
    rows = num_steps * batch_size
    if len(y) != rows:  # cycle (or cut) the data to exactly `num_steps` batches
        index = np.resize(np.arange(len(y)), rows)
        x, y = np.asarray(x)[index], np.asarray(y)[index]
    result = sweep(model, x, y, learning_rates=learning_rates, epochs=1,
                   batch_size=batch_size, validation_data=validation_data,
                   verbose=verbose, **sweep_kwargs)
    return result.best(metric), result


def _check_metric(model, metric):
    """`metric` must be a key the sweep's histories will have: `loss`, a
    compiled metric's name, or one of those with `val_` (checked before
    the grid trains, not after)."""
    if not isinstance(metric, str):
        raise TypeError(f"Argument `metric` must be a string. Received: metric={metric!r}")
    config = keras_private.compile_arguments(model) or {}
    metrics = config.get("metrics")
    if metrics is not None and not isinstance(metrics, (list, tuple)):
        return  # a dict of per-output metrics: its names are Keras's to make
    names = ["loss"] + [m if isinstance(m, str) else getattr(m, "name", None)
                        for m in metrics or []]
    known = [n for n in names if n] + [f"val_{n}" for n in names if n]
    if metric not in known:
        raise ValueError(
            f"Argument `metric` must be a key of the sweep's histories: one of {known}. "
            f"Received: metric={metric!r}")
