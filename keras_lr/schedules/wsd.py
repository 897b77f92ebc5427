"""Warmup-stable-decay (WSD), the schedule of recent LLM pre-training."""

import math

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.schedules import _common

__all__ = ["WarmupStableDecay"]

_DECAY_SHAPES = ("linear", "cosine", "1-sqrt", "exponential")


@keras.saving.register_keras_serializable(package="keras_lr")
class WarmupStableDecay(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """Warmup, a long constant phase, then a short decay (WSD).

    The schedule of MiniCPM and of recent LLM training (Hu et al., 2024;
    Hägele et al., 2024): a linear warmup over `warmup_steps`, the peak
    learning rate held, and a decay over the last `decay_fraction` of the
    run that ends at `final_learning_rate` on the last step,
    `total_steps - 1`. With `W = warmup_steps`, `D = round(decay_fraction *
    total_steps)` decay steps starting at `S = total_steps - 1 - D`, and
    `p = (step - S) / D`:

    ```
    step <= W:      lr = initial + (peak - initial) * step / W
    W < step <= S:  lr = peak
    S < step:       lr = final + (peak - final) * shape(p)    # p clipped to 1
        linear:       shape(p) = 1 - p
        cosine:       shape(p) = (1 + cos(pi * p)) / 2
        1-sqrt:       shape(p) = 1 - sqrt(p)
        exponential:  lr = peak * (final / peak) ** p         # final > 0
    ```

    The constant phase is what makes WSD useful: a run can be continued
    from a checkpoint taken before the decay, or decayed early, without
    fixing the length in advance as a cosine schedule must.

    Args:
        peak_learning_rate: Float > 0. The learning rate of the stable phase.
        total_steps: Integer >= 2. Length of the run in optimizer steps (or
            give `epochs` and `steps_per_epoch`).
        warmup_steps: Integer >= 0. Length of the linear warmup. Defaults to
            `0`.
        decay_fraction: Float in (0, 1]. Fraction of `total_steps` spent
            decaying; `1.0` leaves no stable phase (the decay takes every
            step after the warmup). Defaults to `0.2` (Hägele et al. find
            10-20% enough).
        decay_shape: `"linear"`, `"cosine"`, `"1-sqrt"` or `"exponential"`.
            Defaults to `"1-sqrt"` (the best of the four in Hägele et al.).
        initial_learning_rate: Float >= 0. The learning rate at step 0.
            Defaults to `0.0`.
        final_learning_rate: Float >= 0, < `peak_learning_rate` (> 0 for
            `"exponential"`). The learning rate at step `total_steps - 1` and
            after. Defaults to `0.0`.
        name: String. Defaults to `"WarmupStableDecay"`.
        epochs: Optional integer >= 1, with `steps_per_epoch`:
            `total_steps = epochs * steps_per_epoch`.
        steps_per_epoch: Optional integer >= 1, with `epochs`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range, or the warmup and the
            decay do not fit in `total_steps - 1` steps.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.WarmupStableDecay(
    ...     1e-3, total_steps=1000, warmup_steps=100, decay_fraction=0.2)
    >>> [round(float(schedule(s)), 6) for s in (0, 100, 500, 799, 999)]
    [0.0, 0.001, 0.001, 0.001, 0.0]

    ```

    Reference:
        [Hu et al., 2024, "MiniCPM"](https://arxiv.org/abs/2404.06395);
        [Hägele et al., 2024, "Scaling Laws and Compute-Optimal Training
        Beyond Fixed Training Durations"](https://arxiv.org/abs/2405.18392).
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps=None,
        warmup_steps=0,
        decay_fraction=0.2,
        decay_shape="1-sqrt",
        initial_learning_rate=0.0,
        final_learning_rate=0.0,
        name="WarmupStableDecay",
        *,
        epochs=None,
        steps_per_epoch=None,
    ):
        super().__init__()
        total_steps = _common.cycle_length(total_steps, epochs, steps_per_epoch)
        self.total_steps = _validation.require_int("total_steps", total_steps, minimum=2)
        self.peak_learning_rate = _validation.require_positive(
            "peak_learning_rate", peak_learning_rate)
        self.warmup_steps = _validation.require_int("warmup_steps", warmup_steps, minimum=0)
        self.decay_fraction = _validation.require_number(
            "decay_fraction", decay_fraction, minimum=0, maximum=1, min_inclusive=False)
        self.decay_shape = _validation.require_one_of(
            "decay_shape", decay_shape, _DECAY_SHAPES)
        self.initial_learning_rate = _validation.require_non_negative(
            "initial_learning_rate", initial_learning_rate)
        self.final_learning_rate = _validation.require_non_negative(
            "final_learning_rate", final_learning_rate)
        if self.final_learning_rate >= self.peak_learning_rate:
            raise ValueError(
                "Argument `final_learning_rate` must be < `peak_learning_rate`. "
                f"Received: final_learning_rate={final_learning_rate!r}, "
                f"peak_learning_rate={peak_learning_rate!r}")
        if self.decay_shape == "exponential" and self.final_learning_rate <= 0:
            raise ValueError(
                "Argument `final_learning_rate` must be > 0 when "
                "decay_shape='exponential' (the decay is geometric). "
                f"Received: final_learning_rate={final_learning_rate!r}")
        if self.decay_fraction == 1.0:
            # The documented limit: no stable phase, the decay takes every
            # step after the warmup.
            self._decay_steps = max(1, self.total_steps - 1 - self.warmup_steps)
        if self.warmup_steps + self.decay_steps > self.total_steps - 1:
            raise ValueError(
                "Arguments `warmup_steps` and `decay_fraction` leave no room: "
                f"the warmup ({self.warmup_steps} steps) and the decay "
                f"({self.decay_steps} steps) must fit in total_steps - 1 = "
                f"{self.total_steps - 1}. Received: total_steps={total_steps!r}, "
                f"warmup_steps={warmup_steps!r}, decay_fraction={decay_fraction!r}")
        self.name = name

    @property
    def decay_steps(self):
        """The number of decay steps, `max(1, round(decay_fraction * total_steps))`
        (with `decay_fraction=1`, every step after the warmup)."""
        fixed = getattr(self, "_decay_steps", None)
        if fixed is not None:
            return fixed
        return max(1, int(round(self.decay_fraction * self.total_steps)))

    @property
    def decay_start(self):
        """The last step of the stable phase, `total_steps - 1 - decay_steps`."""
        return self.total_steps - 1 - self.decay_steps

    def __call__(self, step):
        step = _common.as_float_step(step)
        peak = self.peak_learning_rate
        final = self.final_learning_rate
        if self.warmup_steps:
            ramp = self.initial_learning_rate + (peak - self.initial_learning_rate) * (
                ops.minimum(step, float(self.warmup_steps)) / float(self.warmup_steps))
        else:
            ramp = ops.full_like(step, peak)
        p = ops.clip((step - float(self.decay_start)) / float(self.decay_steps), 0.0, 1.0)
        if self.decay_shape == "linear":
            decay = final + (peak - final) * (1.0 - p)
        elif self.decay_shape == "cosine":
            # (1 + cos(pi p)) / 2 = cos(pi p / 2) ** 2, accurate near the end.
            decay = final + (peak - final) * ops.square(ops.cos((0.5 * math.pi) * p))
        elif self.decay_shape == "1-sqrt":
            decay = final + (peak - final) * (1.0 - ops.sqrt(p))
        else:
            decay = peak * ops.exp(p * math.log(final / peak))
        return ops.where(step <= float(self.decay_start), ramp, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay_fraction": self.decay_fraction,
            "decay_shape": self.decay_shape,
            "initial_learning_rate": self.initial_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }
