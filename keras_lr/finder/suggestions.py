"""Learning-rate suggestions from a range-test curve.

Every function has fastai's signature `(learning_rates, losses) -> float` and
works on the *smoothed* losses of a sweep whose learning rate increases. A
curve that gives no reliable answer raises `UnreliableCurveError` (a
`ValueError`) with the reason, never a meaningless number.
"""

import numpy as np

__all__ = ["UnreliableCurveError", "clean_curve", "curve_array", "minimum", "slide", "steep",
           "valley"]

MIN_POINTS = 10
# The default of `LRFinderResult.suggestion`: the only method within half a
# decade of the best constant LR on every task of `benchmarks/finder_quality.py`
# (median of 3 sweeps); fastai's "valley" was up to 0.9 decades low.
DEFAULT_METHOD = "minimum"


class UnreliableCurveError(ValueError):
    """The range-test curve cannot support a suggestion (the reason is given)."""


def clean_curve(learning_rates, losses, skip_start=0, skip_end=0):
    """Trims the curve and keeps its finite prefix.

    Args:
        learning_rates: 1-D increasing learning rates.
        losses: Losses, one per learning rate.
        skip_start: Integer. Points dropped at the start (fastai drops a tenth).
        skip_end: Integer. Points dropped at the end (fastai drops 5).

    The ends are trimmed first (`skip_start`, `skip_end`), then the curve
    is cut at its first non-finite loss.

    Returns:
        `(learning_rates, losses)` as float64 arrays.

    Raises:
        UnreliableCurveError: if fewer than 10 finite points remain, or if the
            loss does not decrease over the sweep.
    """
    lrs = curve_array("learning_rates", learning_rates)
    losses = curve_array("losses", losses)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(
            "Arguments `learning_rates` and `losses` must be 1-D and of the same "
            f"length. Received shapes {lrs.shape} and {losses.shape}"
        )
    finite = np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0)
    if not finite.any():
        raise UnreliableCurveError(
            "No finite loss was recorded (all NaN or inf): the sweep diverged "
            "at once. Lower `start_lr`, or check the data and the loss."
        )
    # The sweep's ends first, as fastai trims them (a sweep that stops on a
    # NaN records it last: it falls in the trimmed tail, so a NaN last loss
    # changes nothing); then everything from the first non-finite loss on
    # is divergence.
    end = max(len(losses) - skip_end, 0)
    lrs, losses, finite = lrs[skip_start:end], losses[skip_start:end], finite[skip_start:end]
    first_bad = len(losses) if finite.all() else int(np.argmin(finite))
    lrs, losses = lrs[:first_bad], losses[:first_bad]
    if len(losses) < MIN_POINTS:
        raise UnreliableCurveError(
            f"The curve is too short for a suggestion: {len(losses)} usable "
            f"points (at least {MIN_POINTS} are needed). The sweep stopped early "
            "(divergence?) or `num_steps` is too small: lower `start_lr`, or "
            "raise `num_steps` or `diverge_threshold`."
        )
    start, low = losses[0], float(np.min(losses))
    scale = max(abs(start), 1e-12)
    if (start - low) / scale < 0.01:
        raise UnreliableCurveError(
            "The loss did not decrease over the sweep (less than 1% below its "
            f"start: from {start:.4g} to a minimum of {low:.4g}): there is no "
            "learning rate to suggest. Widen the range (lower `start_lr`, "
            "higher `end_lr`), train on more steps, or check that the model "
            "can learn from the data."
        )
    return lrs, losses


def curve_array(name, values):
    """`values` as a 1-D float64 array, or a clear error naming `name`."""
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"Argument `{name}` must be a 1-D sequence of numbers. "
            f"Received: {name}={values!r}") from None
    if array.ndim != 1:
        raise ValueError(
            f"Argument `{name}` must be a 1-D sequence of numbers. Received an "
            f"array of shape {array.shape}")
    return array


def minimum(learning_rates, losses):
    """The learning rate of the lowest loss, divided by 10 (fastai's `minimum`)."""
    lrs, losses = clean_curve(learning_rates, losses)
    return float(lrs[int(np.argmin(losses))] / 10.0)


def steep(learning_rates, losses):
    """The steepest descent, d loss / d log10(lr), searched before the minimum.

    The slope is taken against `log10(lr)` (Lightning once used the wrong x
    axis), and only up to the lowest loss: past it, a rising curve can have
    steeper negative stretches that are divergence noise.
    """
    lrs, losses = clean_curve(learning_rates, losses)
    stop = int(np.argmin(losses)) + 1
    if stop < 3:
        raise UnreliableCurveError(
            "The loss is lowest at the very start of the sweep: lower `start_lr`."
        )
    slopes = np.diff(losses[:stop]) / np.diff(np.log10(lrs[:stop]))
    return float(lrs[int(np.argmin(slopes))])


def valley(learning_rates, losses):
    """fastai's default: the middle of the longest valley of the curve.

    Finds the longest decreasing subsequence of the losses and returns the
    learning rate found a third plus a sixth of the way down its span (fastai
    `valley`; most reliable of fastai's methods over six data sets).
    """
    lrs, losses = clean_curve(learning_rates, losses)
    n = len(losses)
    lds = np.ones(n, dtype=int)
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    index = max_start + int(sections) + int(sections / 2)
    return float(lrs[index])


def slide(learning_rates, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """fastai's `slide`: walks left from the end until the slope settles.

    Compares the gradient of the loss at two points `lr_diff` steps apart and
    moves left while they differ by more than `thresh`.
    """
    lrs, losses = clean_curve(learning_rates, losses)
    if len(losses) <= lr_diff:
        raise UnreliableCurveError(
            f"`slide` needs more than lr_diff={lr_diff} points; got {len(losses)}."
        )
    grads = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while l_idx >= -len(losses) and abs(grads[r_idx] - grads[l_idx]) > thresh:
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr * adjust_value)


METHODS = {"valley": valley, "steep": steep, "minimum": minimum, "slide": slide}
