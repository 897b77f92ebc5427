"""The contract of the one-call workflows (`tests/contracts/workflows.py`):
each runs, or refuses clearly, under every way Keras runs a step, and a bad
row in the data is never silent."""

import warnings

import keras
import numpy as np
import pytest

from tests.contracts import harness
from tests.contracts.registry import NotApplicable
from tests.contracts.registry import Refused
from tests.contracts.workflows import WORKFLOWS
from tests.contracts.workflows import build

BACKEND = keras.backend.backend()
EXECUTIONS = ("plain", "steps_per_execution", "gradient_accumulation", "mixed_float16",
              "multi_optimizer", "jit_compile", "distribute")

pytestmark = pytest.mark.contracts


def _cases(questions):
    return [pytest.param(w, e, id=f"{w.name}-{e}") for w in WORKFLOWS for e in questions]


def _outcome(workflow, execution):
    outcome = workflow.outcome(execution, BACKEND)
    if isinstance(outcome, NotApplicable):
        pytest.skip(outcome.reason)
    return outcome


@pytest.mark.parametrize("workflow, execution", _cases(EXECUTIONS))
def test_runs_or_refuses_clearly(workflow, execution):
    outcome = _outcome(workflow, execution)
    if isinstance(outcome, Refused):
        with pytest.raises(outcome.error, match=outcome.match):
            workflow.run(build(workflow, execution), None)
        return
    model = build(workflow, execution)
    before = harness.weights(model)
    with harness.policy(harness.Case(workflow, execution=execution)):
        result = workflow.run(model, None)
    workflow.check(model, before, result)


@pytest.mark.parametrize("workflow, bad", [pytest.param(w, b, id=f"{w.name}-bad_{b}")
                                           for w in WORKFLOWS for b in harness.BAD_DATA])
def test_a_bad_row_is_never_silent(workflow, bad):
    model = build(workflow, "plain")
    if workflow.bad_data == "raises":
        with pytest.raises(ValueError, match="Every learning rate diverged.*NaN or inf"):
            workflow.run(model, bad)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = workflow.run(model, bad)
    if workflow.bad_data == "stops":
        assert result.stop_reason in ("nan", "nan_weights"), result.stop_reason
        assert harness.finite_weights(model)  # and the model is put back
    elif workflow.bad_data == "masks":
        sweep = result[1] if isinstance(result, tuple) else result
        assert all(step is not None for step in sweep.diverged_at), sweep.diverged_at
        for k in range(len(sweep.learning_rates)):
            assert all(np.isfinite(w).all() for w in sweep.weights(k))
    elif workflow.bad_data == "warns":
        said = [w for w in caught if "weights are not finite" in str(w.message)]
        assert harness.finite_weights(model) or said, "non-finite weights, and no word"
    else:
        raise AssertionError(workflow.bad_data)
