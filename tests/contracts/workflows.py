"""The workflows of the contract: one-call functions that train.

Each entry runs its function on the contract's tiny model and data under a
configuration (`harness.EXECUTIONS`, a bad row) and says what must hold:
the model is left as it was (`find_lr`), a diverging copy is masked
(`sweep`), a resume continues the cycle (`fit_one_cycle`), ... Declared
refusals are checked for their message, like the registry's.
"""

import dataclasses
from typing import Callable

import keras
import numpy as np

from tests.contracts import harness
from tests.contracts.registry import NotApplicable
from tests.contracts.registry import Refused

__all__ = ["WORKFLOWS", "WORKFLOW_QUESTIONS"]

WORKFLOW_QUESTIONS = ("runs",) + tuple(f"bad_{b}" for b in harness.BAD_DATA)


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A one-call workflow.

    Attributes:
        name: The public name.
        run: `(model, bad) -> result`: the call on the contract's data.
        check: `(model, before, result) -> None`: what holds after a
            clean run (`before`: the weights before the call).
        bad_data: `"stops"` (it stops and says why: the finder),
            `"masks"` (the copy with the bad row stops, weights finite),
            `"warns"` (it trains as `fit` does and warns when the weights
            end non-finite), `"raises"` (a clear error: every copy of a
            grid diverged).
        declared: `{execution: Refused | NotApplicable}`.
    """

    name: str
    run: Callable
    check: Callable
    bad_data: str
    declared: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        return self.name

    def outcome(self, execution, backend):
        if execution == "distribute" and backend != "tensorflow":
            return NotApplicable("tf.distribute is TensorFlow's")
        if execution in ("steps_per_execution", "jit_compile") and backend == "torch":
            return NotApplicable("not on Keras's PyTorch backend")
        return self.declared.get(execution)


def _data(bad):
    x, y, sample_weight = harness.make_data(bad)
    return x, y, sample_weight


def _find_lr(model, bad):
    import keras_lr

    x, y, sample_weight = _data(bad)
    if sample_weight is not None:  # the finder's data has no weights: a NaN target instead
        y = y.copy()
        y[harness.BAD_ROW] = np.nan
    return keras_lr.find_lr(model, x, y, batch_size=harness.BATCH, num_steps=24, repeats=1,
                            seed=0, verbose=0)


def _check_find_lr(model, before, result):
    for a, b in zip(harness.weights(model), before):
        np.testing.assert_array_equal(a, b, err_msg="find_lr did not restore the model")
    assert len(result) > 1


def _fit_one_cycle(model, bad):
    import keras_lr

    x, y, sample_weight = _data(bad)
    return keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.05, batch_size=harness.BATCH,
                                  sample_weight=sample_weight, shuffle=False, verbose=0)


def _check_fit_one_cycle(model, before, history):
    assert history.schedule.total_steps == 2 * harness.STEPS
    assert any(not np.array_equal(a, b) for a, b in zip(harness.weights(model), before))


def _sweep(model, bad):
    import keras_lr

    x, y, sample_weight = _data(bad)
    return keras_lr.sweep(model, x, y, sample_weight=sample_weight, learning_rates=[0.01, 0.05],
                          epochs=2, batch_size=harness.BATCH, shuffle=False, verbose=0)


def _check_sweep(model, before, result):
    for a, b in zip(harness.weights(model), before):
        np.testing.assert_array_equal(a, b, err_msg="sweep changed the user's model")
    assert result.diverged_at == [None, None]


def _short_horizon_grid(model, bad):
    from keras_lr import sweeps

    x, y, sample_weight = _data(bad)
    if sample_weight is not None:
        y = y.copy()
        y[harness.BAD_ROW] = np.nan
    return sweeps.short_horizon_grid(model, x, y, learning_rates=[0.01, 0.05], num_steps=8,
                                     batch_size=harness.BATCH)


def _check_short_horizon_grid(model, before, result):
    rate, _ = result
    assert rate in (0.01, 0.05)


def _halving_grid(model, bad):
    from keras_lr import sweeps

    x, y, sample_weight = _data(bad)
    if sample_weight is not None:  # the grid's data has no weights: a NaN target instead
        y = y.copy()
        y[harness.BAD_ROW] = np.nan
    return sweeps.halving_grid(model, x, y, epochs=2, learning_rates=[0.003, 0.01, 0.05],
                               rungs=2, batch_size=harness.BATCH)


def _check_halving_grid(model, before, result):
    for a, b in zip(harness.weights(model), before):
        np.testing.assert_array_equal(a, b, err_msg="halving_grid changed the user's model")
    rate, sweep = result
    assert rate in (0.003, 0.01, 0.05)
    assert len(sweep.rungs) == 2 and len(sweep.rungs[-1]["scores"]) == 2


def _fine_tune(model, bad):
    import keras_lr

    x, y, sample_weight = _data(bad)
    return keras_lr.fine_tune(model, x, y, backbone="body", epochs=1, freeze_epochs=1,
                              base_lr=0.05, groups=2, batch_size=harness.BATCH,
                              sample_weight=sample_weight, shuffle=False, verbose=0)


def _check_fine_tune(model, before, histories):
    frozen, history = histories
    assert frozen is not None and history is not None


SWEEP_REFUSES = {
    "multi_optimizer": Refused("each copy trains with one Keras optimizer",
                               "sweep trains each copy with one Keras optimizer"),
    "distribute": NotApplicable("the copies are stepped by the sweep, not by a strategy"),
}

ONE_CYCLE_REFUSES = {
    "multi_optimizer": Refused("it rebuilds the optimizer around the one-cycle schedule",
                               "does not know how to rebuild a MultiOptimizer"),
    "gradient_accumulation": Refused(
        "it cycles the momentum with a ScheduledMomentum, which does not accumulate "
        "gradients (`momentum=None` runs)", "Pass `momentum=None`"),
}

WORKFLOWS = [
    Workflow("find_lr", _find_lr, _check_find_lr, "stops"),
    Workflow("fit_one_cycle", _fit_one_cycle, _check_fit_one_cycle, "warns",
             declared=ONE_CYCLE_REFUSES),
    Workflow("fine_tune", _fine_tune, _check_fine_tune, "warns", declared=ONE_CYCLE_REFUSES),
    Workflow("sweep", _sweep, _check_sweep, "masks", declared=SWEEP_REFUSES),
    Workflow("short_horizon_grid", _short_horizon_grid, _check_short_horizon_grid, "raises",
             declared=SWEEP_REFUSES),
    Workflow("halving_grid", _halving_grid, _check_halving_grid, "raises",
             declared=SWEEP_REFUSES),
]


def build(workflow, execution, seed=0):
    """The model a workflow case starts from: the contract's, compiled with
    SGD under `execution`."""
    class _Plain:  # a registry-like entry: the run's optimizer is a plain SGD
        name = workflow.name

        @staticmethod
        def optimizer(rate, kwargs):
            return keras.optimizers.SGD(0.05, momentum=0.9, **kwargs)

    return harness.build(harness.Case(_Plain, "runs", "float", execution), seed=seed)
