"""The contract: every registered component answers the same questions.

See `tests/contracts/registry.py` (the components and what they declare)
and `tests/contracts/cases.py` (which cases run on which backend). Each
test takes one case; a declared `Refused` must refuse at the start of
training with its message (nothing trained), a declared `NotApplicable`
is skipped with its reason, and everything else must hold exactly.
"""

import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from tests.contracts import cases
from tests.contracts import harness
from tests.contracts import loops
from tests.contracts.registry import declared_outcome
from tests.contracts.registry import NotApplicable
from tests.contracts.registry import Refused

BACKEND = keras.backend.backend()
SELECTED = cases.selected(BACKEND)
_SELECTED_IDS = {c.id for c in SELECTED}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.contracts


def _params(questions):
    params = [pytest.param(c, id=c.id) for c in SELECTED if c.question in questions]
    params += [pytest.param(c, id=c.id, marks=pytest.mark.contracts_full)
               for c in cases.full_product(BACKEND)
               if c.question in questions and c.id not in _SELECTED_IDS]
    return params


def _outcome(case):
    """The declared outcome of the case (`registry.declared_outcome`)."""
    return declared_outcome(case.entry, case.question, case.rate, case.execution, BACKEND)


def _skip_if_not_applicable(outcome):
    if isinstance(outcome, NotApplicable):
        pytest.skip(outcome.reason)


_WHOLE = {}


def uninterrupted(case):
    """The trace of the case's run without interruption (cached)."""
    key = (case.entry.name, case.rate, case.execution)
    if key not in _WHOLE:
        component = case.entry.callback()
        observer = harness.Observer(component, case.entry.state)
        harness.fit(harness.build(case, seed=0), case.entry.callbacks(component) + [observer])
        _WHOLE[key] = observer.epochs
    return _WHOLE[key]


def _arrange(case, component, saver):
    """The callbacks of a run with a saver: the component before it
    (`resume_before`) or after it."""
    own = case.entry.callbacks(component)
    return own + [saver] if case.question == "resume_before" else [saver] + own


def _assert_refused(case, outcome, callbacks=None):
    """The case is refused with its message: when its optimizer is made, or
    at the start of training, before any weight changed."""
    with pytest.raises(outcome.error, match=outcome.match):
        model = harness.build(case, seed=0)
        before = harness.weights(model)
        try:
            harness.fit(model, case.entry.callbacks(case.entry.callback())
                        if callbacks is None else callbacks)
        finally:
            for a, b in zip(harness.weights(model), before):
                np.testing.assert_array_equal(a, b, err_msg="refused after training started")


def _compare_from(observed, whole, first_epoch, **tolerance):
    epochs = sorted(e for e in whole if e >= first_epoch)  # a finder stops training early
    assert sorted(observed) == epochs, (sorted(observed), epochs)
    for epoch in epochs:
        harness.assert_same_epoch(observed[epoch], whole[epoch], f"epoch {epoch}",
                                  **tolerance)


def _tolerance(case):
    if case.execution == "mixed_float16":
        return {"rtol": 1e-3, "atol": 1e-4}
    if case.execution == "distribute":
        return {"rtol": 1e-4, "atol": 1e-5}
    return {}


# ---- a crash, resumed by BackupAndRestore on either side --------------------------------

@pytest.mark.parametrize("case", _params({"resume_before", "resume_after"}))
def test_crash_and_resume_equals_the_uninterrupted_run(case, tmp_path):
    """The uninterrupted run saves with `BackupAndRestore` (in the case's
    order) and keeps a copy of the backup as a crash at the end of epoch
    `CRASH_EPOCH` would leave it; a fresh model resumes from that copy."""
    outcome = _outcome(case)
    _skip_if_not_applicable(outcome)
    backup = os.fspath(tmp_path / "backup")
    if isinstance(outcome, Refused):
        _assert_refused(case, outcome, _arrange(
            case, case.entry.callback(), keras.callbacks.BackupAndRestore(backup)))
        return
    crashed = os.fspath(tmp_path / "crashed")
    component = case.entry.callback()
    whole = harness.Observer(component, case.entry.state)
    harness.fit(harness.build(case, seed=0),
                _arrange(case, component, keras.callbacks.BackupAndRestore(backup))
                + [harness.CopyAtCrash(backup, crashed), whole])
    component = case.entry.callback()
    observer = harness.Observer(component, case.entry.state)
    resumed = harness.build(case, seed=1)  # other weights: the backup must replace them
    harness.fit(resumed, _arrange(case, component, keras.callbacks.BackupAndRestore(crashed))
                + [observer])
    _compare_from(observer.epochs, whole.epochs, harness.CRASH_EPOCH + 1, **_tolerance(case))


@pytest.mark.parametrize("case", _params({"checkpoint_after"}))
def test_a_checkpoint_before_the_component_continues_or_is_refused(case, tmp_path):
    outcome = _outcome(case)
    _skip_if_not_applicable(outcome)
    path = os.fspath(tmp_path / "epoch{epoch}.keras")
    if isinstance(outcome, Refused):
        _assert_refused(case, outcome,
                        [keras.callbacks.ModelCheckpoint(path)]
                        + case.entry.callbacks(case.entry.callback()))
        return
    first = harness.CRASH_EPOCH + 1
    model = harness.build(case, seed=0)
    harness.fit(model, [keras.callbacks.ModelCheckpoint(path)]
                + case.entry.callbacks(case.entry.callback()), epochs=first)
    reference = _continue(case, model)
    loaded = _continue(case, keras.saving.load_model(path.format(epoch=first)))
    _compare_from(loaded, reference, first, **_tolerance(case))


def _continue(case, model):
    """Continues `model` (trained to the crash epoch) with a second `fit`
    and a new callback instance, as after a load; returns the trace."""
    component = case.entry.callback()
    observer = harness.Observer(component, case.entry.state)
    harness.fit(model, case.entry.callbacks(component) + [observer],
                initial_epoch=harness.CRASH_EPOCH + 1)
    return observer.epochs


# ---- a .keras file loaded in a fresh process ------------------------------------------------

_FRESH = [c for c in SELECTED if c.question == "fresh_process"]


@pytest.fixture(scope="module")
def fresh_process_runs(tmp_path_factory):
    """Every fresh-process case of this run: trained and saved here, then
    loaded and continued in one new Python process (`loops.continue_saved`)."""
    directory = tmp_path_factory.mktemp("fresh")
    manifest, references = [], {}
    for case in _FRESH:
        if _outcome(case) is not None:
            continue
        model = harness.build(case, seed=0)
        harness.fit(model, case.entry.callbacks(case.entry.callback()),
                    epochs=harness.CRASH_EPOCH + 1)
        path = os.fspath(directory / f"{len(manifest)}.keras")
        model.save(path)
        manifest.append({"id": case.id, "entry": case.entry.name, "path": path,
                         "execution": case.execution})
        references[case.id] = _continue(case, model)  # the same model, not saved
    if not manifest:
        return {}, {}
    manifest_path = directory / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    output = directory / "traces.json"
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    done = subprocess.run(
        [sys.executable, "-m", "tests.contracts.loops", os.fspath(manifest_path),
         os.fspath(output)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return loops.read_traces(output), references


@pytest.mark.parametrize("case", _params({"fresh_process"}))
def test_a_keras_file_loaded_in_a_fresh_process_continues(case, request):
    outcome = _outcome(case)
    _skip_if_not_applicable(outcome)
    if isinstance(outcome, Refused):
        _assert_refused(case, outcome)
        return
    if case.id not in _SELECTED_IDS:
        pytest.skip("the fresh-process runs are batched for the selected cases only")
    runs, references = request.getfixturevalue("fresh_process_runs")
    assert case.id in runs, f"{case.id} was not continued in the fresh process"
    _compare_from(runs[case.id], references[case.id], harness.CRASH_EPOCH + 1,
                  **_tolerance(case))


# ---- a custom training loop ---------------------------------------------------------------

@pytest.mark.parametrize("case", _params({"custom_loop"}))
def test_a_custom_training_loop_equals_fit(case):
    outcome = _outcome(case)
    _skip_if_not_applicable(outcome)
    if isinstance(outcome, Refused):
        with pytest.raises(outcome.error, match=outcome.match):
            loops.custom_loop(harness.build(case, seed=0),
                              case.entry.callbacks(case.entry.callback()))
        return
    model = harness.build(case, seed=0)
    component = case.entry.callback()
    observer = harness.Observer(component, case.entry.state)
    loops.custom_loop(model, case.entry.callbacks(component) + [observer])
    # The epoch's `loss` is the loop's own mean (fit's restarts after a
    # DivergenceGuard recovery); everything the components log must agree.
    _compare_from(observer.epochs, uninterrupted(case), 0, rtol=1e-4, atol=1e-5,
                  skip_logs=("loss",))


# ---- a bad row in the data ----------------------------------------------------------------

@pytest.mark.parametrize("case", _params({f"bad_{b}" for b in harness.BAD_DATA}))
def test_a_bad_row_is_never_silent(case):
    outcome = _outcome(case)
    _skip_if_not_applicable(outcome)
    bad = case.question[len("bad_"):]
    if isinstance(outcome, Refused):
        _assert_refused(case, outcome)
        return
    model = harness.build(case, seed=0)
    component = case.entry.callback()
    expected = case.entry.bad_data_for(case.rate)
    if expected.startswith("fails_trial"):
        from keras_tuner import errors

        try:
            harness.fit(model, case.entry.callbacks(component), bad=bad)
        except errors.FailedTrialError as e:
            assert "Diverged" in str(e)
            return
        assert expected == "fails_trial_or_skips" and harness.finite_weights(model), (
            "the trial went on through the bad row")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = harness.fit(model, case.entry.callbacks(component), bad=bad)
    # Under a MultiOptimizer the component's optimizer trains the head only
    # (a plain SGD the rest): what it does shows there.
    watched = [w for w in model.weights if "head" in w.path] \
        if case.execution == "multi_optimizer" else model.weights
    finite = all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in watched)
    losses = np.asarray(history.history["loss"], dtype="float64")
    said = [str(w.message) for w in caught if "not finite" in str(w.message)]
    if expected == "restores":
        assert finite, "the guard left non-finite weights"
        assert component.events, "the guard did not act on the bad row"
    elif expected == "skips":
        assert finite, "the step with a non-finite gradient was not skipped"
    elif expected == "stops":
        assert component.result.stop_reason in ("nan", "nan_weights"), (
            f"the finder went on through the bad row: {component.result.stop_reason}")
        assert finite  # and the model is put back
    elif expected == "warns":
        assert finite or said, (
            f"the weights are not finite and {case.entry.name} said nothing "
            f"(losses {losses})")
    elif expected == "keras":
        bare = _bare_keras_run(case, bad, watched=case.execution == "multi_optimizer")
        assert finite == bare, (
            f"keras-lr's {case.entry.name} {'kept' if finite else 'lost'} finite weights "
            f"where the bare Keras optimizer {'did not' if finite else 'did'}")
    else:
        raise AssertionError(f"unknown bad-data outcome {expected!r}")


def _bare_keras_run(case, bad, watched=False):
    """Whether the bare Keras SGD keeps finite weights on the same data
    (with `watched`, the head's)."""
    with harness.policy(case):
        model = harness.make_model(0)
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    harness.fit(model, [], bad=bad)
    weights = [w for w in model.weights if "head" in w.path] if watched else model.weights
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in weights)
