"""The one-cycle policy (Smith and Topin, 2017) and its momentum curve."""

import math

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.schedules import _common

__all__ = ["OneCycle", "OneCycleMomentum"]

_ANNEAL_STRATEGIES = ("cos", "linear")


def _anneal_weight(remaining, strategy):
    """Weight of the phase's start value, given the fraction still to go.

    `cos`: `(1 + cos(pi * pct)) / 2`, written as `sin(pi / 2 * (1 - pct))**2`
    so that values close to a tiny end value keep float32 relative accuracy.
    """
    if strategy == "cos":
        return ops.square(ops.sin((0.5 * math.pi) * remaining))
    return remaining


def _phases(total_steps, pct_start, three_phase, low, peak, final):
    """PyTorch's phase table: `(end_step, start_value, end_value)` per phase."""
    up_end = float(pct_start * total_steps) - 1.0
    if three_phase:
        return [
            (up_end, low, peak),
            (float(2 * pct_start * total_steps) - 2.0, peak, low),
            (float(total_steps) - 1.0, low, final),
        ]
    return [(up_end, low, peak), (float(total_steps) - 1.0, peak, final)]


def _check_phases(total_steps, pct_start, three_phase):
    phases = _phases(total_steps, pct_start, three_phase, 0.0, 0.0, 0.0)
    start = 0.0
    for end, _, _ in phases:
        if not end > start:
            raise ValueError(
                "Arguments `total_steps` and `pct_start` leave a phase of the "
                "one-cycle schedule with no steps. Received: "
                f"total_steps={total_steps}, pct_start={pct_start}, "
                f"three_phase={three_phase}. Increase `total_steps` or move "
                "`pct_start` away from 0 and 1 (0.5)."
            )
        start = end


def _piecewise_anneal(step, phases, strategy):
    """Evaluates the phase table at `step` (clipped to the last step)."""
    step = ops.clip(step, 0.0, phases[-1][0])
    value = None
    start = 0.0
    for index, (end, start_value, end_value) in enumerate(phases):
        remaining = ops.clip((end - step) / (end - start), 0.0, 1.0)
        weight = _anneal_weight(remaining, strategy)
        phase_value = end_value + (start_value - end_value) * weight
        if value is None:
            value = phase_value
        else:
            value = ops.where(step <= start, value, phase_value)
        start = end
    return value


def _validate_shape(total_steps, pct_start, anneal_strategy, three_phase):
    total_steps = _validation.require_int("total_steps", total_steps, minimum=1)
    pct_start = _validation.require_number(
        "pct_start", pct_start, minimum=0, maximum=1,
        min_inclusive=False, max_inclusive=False,
    )
    anneal_strategy = _validation.require_one_of(
        "anneal_strategy", anneal_strategy, _ANNEAL_STRATEGIES
    )
    _validation.require_bool("three_phase", three_phase)
    _check_phases(total_steps, pct_start, three_phase)
    return total_steps, pct_start, anneal_strategy, three_phase


@keras.saving.register_keras_serializable(package="keras_lr")
class OneCycle(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle learning-rate policy, step for step as PyTorch's.

    The learning rate rises from `max_learning_rate / div_factor` to
    `max_learning_rate` over the first `pct_start * total_steps - 1` steps,
    then anneals to `initial / final_div_factor` at step `total_steps - 1`
    (with `three_phase=True`: back down to the initial value at step
    `2 * pct_start * total_steps - 2`, then to the final value). Each phase
    anneals from `a` to `b` with

    ```
    cos:    lr = b + (a - b) * (1 + cos(pi * pct)) / 2
    linear: lr = a + (b - a) * pct
    ```

    where `pct` is the fraction of the phase done. These are the values of
    `torch.optim.lr_scheduler.OneCycleLR` with the same arguments at every
    step `0 .. total_steps - 1`; from there on the schedule holds the final
    value (PyTorch raises instead).

    Args:
        max_learning_rate: Float > 0. The peak learning rate.
        total_steps: Integer >= 1. Length of the cycle in optimizer steps.
            Or give `epochs` and `steps_per_epoch` (as PyTorch); or let
            `keras_lr.fit_one_cycle` size it from `fit`'s arguments.
        pct_start: Float in (0, 1). Fraction of the cycle spent rising.
            Defaults to `0.3`.
        anneal_strategy: `"cos"` or `"linear"`. Defaults to `"cos"`.
        div_factor: Float > 0. `initial = max_learning_rate / div_factor`.
            Defaults to `25.0`.
        final_div_factor: Float > 0. `final = initial / final_div_factor`.
            Defaults to `1e4`.
        three_phase: Bool. Use the three-phase variant (rise, symmetric fall
            to the initial value, annihilation). Defaults to `False`.
        name: String. Defaults to `"OneCycle"`.
        epochs: Optional integer >= 1, with `steps_per_epoch`:
            `total_steps = epochs * steps_per_epoch`.
        steps_per_epoch: Optional integer >= 1, with `epochs`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range, or if `total_steps` is
            too small to give every phase at least one step.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.OneCycle(
    ...     max_learning_rate=0.1, total_steps=1000)
    >>> momentum = schedule.momentum_schedule()  # 0.95 -> 0.85 -> 0.95
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)

    ```

    Reference:
        [Smith and Topin, 2017, "Super-Convergence"](
        https://arxiv.org/abs/1708.07120).
    """

    def __init__(
        self,
        max_learning_rate,
        total_steps=None,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        name="OneCycle",
        *,
        epochs=None,
        steps_per_epoch=None,
    ):
        super().__init__()
        total_steps = _common.cycle_length(total_steps, epochs, steps_per_epoch)
        self.max_learning_rate = _validation.require_positive(
            "max_learning_rate", max_learning_rate
        )
        self.div_factor = _validation.require_positive("div_factor", div_factor)
        self.final_div_factor = _validation.require_positive(
            "final_div_factor", final_div_factor
        )
        (
            self.total_steps,
            self.pct_start,
            self.anneal_strategy,
            self.three_phase,
        ) = _validate_shape(total_steps, pct_start, anneal_strategy, three_phase)
        self.name = name

    @property
    def initial_learning_rate(self):
        """The learning rate at step 0: `max_learning_rate / div_factor`."""
        return self.max_learning_rate / self.div_factor

    @property
    def final_learning_rate(self):
        """The learning rate from step `total_steps - 1` on."""
        return self.initial_learning_rate / self.final_div_factor

    def __call__(self, step):
        phases = _phases(
            self.total_steps, self.pct_start, self.three_phase,
            self.initial_learning_rate, self.max_learning_rate,
            self.final_learning_rate,
        )
        return _piecewise_anneal(
            _common.as_float_step(step), phases, self.anneal_strategy
        )

    def momentum_schedule(self, base_momentum=0.85, max_momentum=0.95):
        """The matching cyclic momentum: high when the LR is low, and back.

        Args:
            base_momentum: Float in [0, 1). Momentum at the LR peak.
                Defaults to `0.85`.
            max_momentum: Float in [0, 1). Momentum at the start and end.
                Defaults to `0.95`.

        Returns:
            A `keras_lr.schedules.OneCycleMomentum` with this cycle's shape.
        """
        return OneCycleMomentum(
            total_steps=self.total_steps,
            pct_start=self.pct_start,
            anneal_strategy=self.anneal_strategy,
            three_phase=self.three_phase,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        )

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="keras_lr")
class OneCycleMomentum(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """The momentum curve of the one-cycle policy, inverse to the LR.

    Momentum anneals from `max_momentum` to `base_momentum` while the learning
    rate rises, then back to `max_momentum` (three-phase: back to
    `max_momentum` in the second phase, held in the third), with the same
    phase boundaries and annealing as `keras_lr.schedules.OneCycle`. These are
    the momentum values of PyTorch's `OneCycleLR(cycle_momentum=True)`.

    For Adam-family optimizers the value is `beta_1`. It is a function of the
    step like a learning-rate schedule; `keras_lr.optimizers.ScheduledMomentum`
    applies it inside the compiled train step.

    Args:
        total_steps: Integer >= 1. Length of the cycle in optimizer steps.
        pct_start: Float in (0, 1). Defaults to `0.3`.
        anneal_strategy: `"cos"` or `"linear"`. Defaults to `"cos"`.
        three_phase: Bool. Defaults to `False`.
        base_momentum: Float in [0, 1). Momentum at the LR peak. Defaults to
            `0.85`.
        max_momentum: Float in [0, 1), >= `base_momentum`. Momentum at the
            start and end of the cycle. Defaults to `0.95`.
        name: String. Defaults to `"OneCycleMomentum"`.
        epochs: Optional integer >= 1, with `steps_per_epoch`, instead of
            `total_steps`.
        steps_per_epoch: Optional integer >= 1, with `epochs`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    >>> momentum = keras_lr.schedules.OneCycleMomentum(total_steps=1000)
    >>> [round(float(momentum(step)), 4) for step in (0, 299, 999)]
    [0.95, 0.85, 0.95]

    ```
    """

    def __init__(
        self,
        total_steps=None,
        pct_start=0.3,
        anneal_strategy="cos",
        three_phase=False,
        base_momentum=0.85,
        max_momentum=0.95,
        name="OneCycleMomentum",
        *,
        epochs=None,
        steps_per_epoch=None,
    ):
        super().__init__()
        total_steps = _common.cycle_length(total_steps, epochs, steps_per_epoch)
        (
            self.total_steps,
            self.pct_start,
            self.anneal_strategy,
            self.three_phase,
        ) = _validate_shape(total_steps, pct_start, anneal_strategy, three_phase)
        self.base_momentum = _validation.require_number(
            "base_momentum", base_momentum, minimum=0, maximum=1,
            max_inclusive=False,
        )
        self.max_momentum = _validation.require_number(
            "max_momentum", max_momentum, minimum=0, maximum=1,
            max_inclusive=False,
        )
        if self.max_momentum < self.base_momentum:
            raise ValueError(
                "Argument `max_momentum` must be >= `base_momentum`. "
                f"Received: max_momentum={max_momentum!r}, "
                f"base_momentum={base_momentum!r}"
            )
        self.name = name

    def __call__(self, step):
        high, low = self.max_momentum, self.base_momentum
        phases = _phases(
            self.total_steps, self.pct_start, self.three_phase, high, low, high
        )
        return _piecewise_anneal(
            _common.as_float_step(step), phases, self.anneal_strategy
        )

    def get_config(self):
        return {
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "three_phase": self.three_phase,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
            "name": self.name,
        }
