"""The finder talks: a progress bar per sweep, one closing line, a repr with
the answer, the repeats drawn as a band, and a ready one-cycle schedule."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.finder import LRFinderResult


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")


def _curve(lowest_at, n=100, seed=0):
    lrs = np.geomspace(1e-6, 10, n)
    x = np.log10(lrs)
    losses = 1.0 + np.tanh(-(x - np.log10(lowest_at)) * 2) * 0.5
    losses[x > np.log10(lowest_at)] += (x[x > np.log10(lowest_at)] - np.log10(lowest_at)) * 3
    return lrs, losses + np.random.default_rng(seed).normal(0, 0.002, n)


def test_progress_bar_and_closing_line(fresh_session, capsys):
    x, y = _data()
    result = keras_lr.find_lr(_model(), x, y, num_steps=40, repeats=2, seed=0)
    out = capsys.readouterr().out
    assert "LR finder sweep 1/2" in out and "LR finder sweep 2/2" in out
    assert "lr:" in out and "smoothed_loss:" in out  # the Progbar's values
    closing = [line for line in out.splitlines() if line.startswith("LR finder: ")]
    assert len(closing) == 1
    assert f"constant LR {result.suggestion():.1e}" in closing[0]
    low, high = result.suggest_range()
    assert f"range {low:.1e} to {high:.1e}" in closing[0]
    spread = result.suggestion_spread()
    assert f"sweeps {spread['min']:.1e} to {spread['max']:.1e}" in closing[0]
    keras_lr.find_lr(_model(), x, y, num_steps=20, repeats=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_callback_progress_is_opt_in(fresh_session, capsys):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.callbacks.LRFinder(num_steps=5)])
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[keras_lr.callbacks.LRFinder(num_steps=5, verbose=1, title="sweep")])
    out = capsys.readouterr().out
    assert out.startswith("sweep") and "5/5" in out
    with pytest.raises(ValueError, match="Argument `verbose` must be one of"):
        keras_lr.callbacks.LRFinder(verbose=2)


def test_repr_shows_the_answer():
    lrs, losses = _curve(1e-2)
    result = LRFinderResult(lrs, losses, config={"smoothing": 0.0})
    text = repr(result)
    assert f"suggestion={result.suggestion():.3g}" in text
    low, high = result.suggest_range()
    assert f"range=({low:.3g}, {high:.3g})" in text
    flat = LRFinderResult(lrs, np.ones_like(lrs))
    assert "suggestion=None" in repr(flat)


def test_one_cycle_from_the_result():
    lrs, losses = _curve(1e-2)
    result = LRFinderResult(lrs, losses, config={"smoothing": 0.0})
    low, high = result.suggest_range()
    schedule = result.one_cycle(epochs=4, steps_per_epoch=25, pct_start=0.25)
    assert schedule.total_steps == 100 and schedule.pct_start == 0.25
    np.testing.assert_allclose(schedule.max_learning_rate, high)
    np.testing.assert_allclose(schedule.initial_learning_rate, low)
    np.testing.assert_allclose(float(schedule(0)), low, rtol=1e-6)
    assert result.one_cycle(100, div_factor=10).div_factor == 10


def test_plot_draws_the_repeats_as_a_labelled_band():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    runs = [LRFinderResult(*_curve(1e-2, seed=s), config={"smoothing": 0.0}) for s in range(3)]
    from keras_lr.finder.range_test import _combine

    result = _combine(runs)
    figure = result.plot()
    ax = figure.axes[0]
    labels = [c.get_label() for c in ax.collections]
    assert "3 sweeps (min to max)" in labels
    band = ax.collections[labels.index("3 sweeps (min to max)")]
    top = band.get_paths()[0].vertices[:, 1].max()
    highest = max(np.nanmax(r.smoothed_losses) for r in runs)
    np.testing.assert_allclose(top, highest)
    assert "smoothed loss (median)" in [line.get_label() for line in ax.lines]


def test_signatures_show_the_default_values():
    # The API reference shows signatures as written: literal defaults, equal
    # to the constants the code and the docs refer to.
    import inspect

    from keras_lr.finder import sweep
    from keras_lr.finder.range_test import DEFAULT_REPEATS
    from keras_lr.finder.suggestions import DEFAULT_METHOD
    from keras_lr.workflows import one_cycle

    expected = {"num_steps": sweep.DEFAULT_NUM_STEPS, "smoothing": sweep.DEFAULT_SMOOTHING,
                "diverge_threshold": sweep.DEFAULT_DIVERGE_THRESHOLD,
                "repeats": DEFAULT_REPEATS}
    for fn in (keras_lr.find_lr, keras_lr.callbacks.LRFinder.__init__):
        parameters = inspect.signature(fn).parameters
        for name, value in expected.items():
            if name in parameters:
                assert parameters[name].default == value, (fn, name)
    parameters = inspect.signature(keras_lr.fit_one_cycle).parameters
    assert parameters["pct_start"].default == one_cycle.DEFAULT_PCT_START
    assert parameters["final_div_factor"].default == one_cycle.DEFAULT_FINAL_DIV_FACTOR
    assert parameters["momentum"].default == one_cycle.DEFAULT_MOMENTUM
    assert inspect.signature(keras_lr.callbacks.PeriodicLRFinder).parameters[
        "method"].default == DEFAULT_METHOD
