"""Suggestion functions on synthetic curves with known answers."""

import numpy as np
import pytest

from keras_lr.finder import LRFinderResult
from keras_lr.finder import UnreliableCurveError
from keras_lr.finder import minimum
from keras_lr.finder import slide
from keras_lr.finder import steep
from keras_lr.finder import valley


def fastai_valley_reference(lrs, losses):
    """fastai.callback.schedule.valley, transcribed (longest decreasing run)."""
    n = len(losses)
    max_start = 0
    max_end = 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def u_curve(n=200, center=-2.0, width=0.4, noise=0.0, seed=0):
    """A range-test-like curve: flat, a sigmoid descent centred at
    log10(lr) = center, then a steep rise after a minimum."""
    lrs = np.logspace(-6, 1, n)
    z = np.log10(lrs)
    loss = 2.0 - 1.5 / (1 + np.exp(-(z - center) / width))
    loss = loss + np.where(z > center + 1.5, 3.0 * (z - center - 1.5) ** 2, 0.0)
    loss = loss + noise * np.random.default_rng(seed).normal(size=n)
    return lrs, loss


def test_steep_finds_the_inflection_on_a_log_axis():
    lrs, loss = u_curve(center=-2.0)
    assert steep(lrs, loss) == pytest.approx(1e-2, rel=0.1)


def test_steep_uses_log_axis_with_linear_spacing():
    # Linearly spaced learning rates: d loss / d lr would pick the right end
    # of the descent, d loss / d log10(lr) picks its centre.
    lrs = np.linspace(1e-3, 1.0, 400)
    z = np.log10(lrs)
    loss = 2.0 - 1.5 / (1 + np.exp(-(z + 1.0) / 0.2)) + np.where(z > -0.3, 10 * (z + 0.3) ** 2, 0)
    assert steep(lrs, loss) == pytest.approx(0.1, rel=0.1)
    per_lr = np.diff(loss) / np.diff(lrs)
    assert abs(np.log10(lrs[np.argmin(per_lr[: np.argmin(loss)])] / 0.1)) > 0.1


def test_steep_ignores_steeper_drops_after_the_minimum():
    lrs, loss = u_curve(center=-3.0)
    z = np.log10(lrs)
    # After the minimum: a rise, then a cliff far steeper than the real descent.
    loss = loss + np.where(z > -0.5, -8.0 * (z + 0.5), 0.0) + np.where(z > -1.2, 9.0, 0.0)
    assert np.argmin(loss) < np.argmax(z > -1.2)
    assert steep(lrs, loss) == pytest.approx(1e-3, rel=0.15)


def test_minimum_is_lowest_loss_over_ten():
    lrs, loss = u_curve()
    assert minimum(lrs, loss) == pytest.approx(lrs[np.argmin(loss)] / 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_valley_matches_fastai_reference(seed):
    lrs, loss = u_curve(noise=0.05, seed=seed)
    assert valley(lrs, loss) == fastai_valley_reference(lrs, loss)
    # And it lands in the descent, below the minimum.
    assert 1e-3 < valley(lrs, loss) < lrs[np.argmin(loss)]


def test_slide_lands_in_the_descent():
    lrs, loss = u_curve(noise=0.0)
    assert 1e-4 < slide(lrs, loss) < lrs[np.argmin(loss)]


def test_nan_tail_is_ignored():
    lrs, loss = u_curve()
    with_nan = loss.copy()
    with_nan[-20:] = np.nan
    assert steep(lrs, with_nan) == steep(lrs[:-20], loss[:-20])


@pytest.mark.parametrize("fn", [valley, steep, minimum, slide])
def test_all_nan_raises_with_reason(fn):
    lrs = np.logspace(-6, 0, 50)
    with pytest.raises(UnreliableCurveError, match="No finite loss"):
        fn(lrs, np.full(50, np.nan))


@pytest.mark.parametrize("fn", [valley, steep, minimum, slide])
def test_too_short_raises_with_reason(fn):
    lrs, loss = u_curve(n=200)
    with pytest.raises(UnreliableCurveError, match="too short"):
        fn(lrs[:6], loss[:6])


@pytest.mark.parametrize("fn", [valley, steep, minimum, slide])
def test_flat_curve_raises_with_reason(fn):
    lrs = np.logspace(-6, 0, 100)
    flat = 2.3 + 1e-4 * np.sin(np.arange(100))
    with pytest.raises(UnreliableCurveError, match="did not decrease"):
        fn(lrs, flat)


def test_unreliable_is_a_value_error():
    assert issubclass(UnreliableCurveError, ValueError)


def test_result_suggestion_trims_like_fastai_and_reports_range():
    lrs, loss = u_curve(noise=0.02)
    result = LRFinderResult(lrs, loss, smoothed_losses=loss)
    n = len(lrs)
    trimmed = fastai_valley_reference(lrs[n // 10:-5], loss[n // 10:-5])
    assert result.suggestion("valley") == trimmed
    # The default is "minimum": the LR of the lowest (trimmed) loss over 10.
    lowest = lrs[n // 10:-5][np.argmin(loss[n // 10:-5])]
    assert result.suggestion() == pytest.approx(lowest / 10)
    low, high = result.suggest_range()
    lowest = lrs[n // 10:-5][np.argmin(loss[n // 10:-5])]
    assert high == pytest.approx(lowest / 3)
    assert low <= high / 3
    assert low >= lrs[0]


def test_result_custom_method_and_bad_method():
    lrs, loss = u_curve()
    result = LRFinderResult(lrs, loss, smoothed_losses=loss)
    assert result.suggestion(lambda lr, lo: float(lr[0])) == lrs[len(lrs) // 10]
    with pytest.raises(ValueError, match="method='best'"):
        result.suggestion("best")


def test_json_round_trip_keeps_nan(tmp_path):
    lrs, loss = u_curve()
    loss[-3:] = np.nan
    result = LRFinderResult(lrs, loss, smoothed_losses=loss, stop_reason="nan",
                            config={"num_steps": 200})
    path = tmp_path / "r.json"
    restored = LRFinderResult.from_json(result.to_json(path))
    again = LRFinderResult.from_json(str(path))
    for r in (restored, again):
        np.testing.assert_array_equal(r.learning_rates, result.learning_rates)
        np.testing.assert_array_equal(r.losses, result.losses)
        assert r.stop_reason == "nan" and r.config == {"num_steps": 200}


def test_plot_has_log_axis_and_marks():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.figure

    lrs, loss = u_curve(noise=0.02)
    result = LRFinderResult(lrs, loss + 0.01, smoothed_losses=loss)
    figure = result.plot()
    assert isinstance(figure, matplotlib.figure.Figure)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "Learning-rate range test"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("valley") for label in labels)
    assert any(label.startswith("range") for label in labels)


def test_smoothing_reference():
    from keras_lr.finder.result import smooth

    losses = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    beta = 0.5
    # Bias-corrected EMA by hand.
    avg1 = 0.5 * 1.0
    avg2 = 0.5 * avg1 + 0.5 * 2.0
    avg3 = 0.5 * avg2 + 0.5 * 3.0
    expected = [avg1 / 0.5, avg2 / 0.75, avg3 / 0.875, np.nan, np.nan]
    np.testing.assert_allclose(smooth(losses, beta), expected)
