"""The search logic of `CoarseToFine`, on cheap black-box objectives.

`run_trial` is replaced by a known function of the LR, so these tests check
the oracle (which points, in which order, when it stops) without training.
"""

import math

import numpy as np
import pytest
from keras_tuner.errors import FailedTrialError

from keras_lr.finder import LRFinderResult
from keras_lr.tuning import CoarseToFine
from keras_lr.tuning import CoarseToFineOracle
from keras_lr.tuning import best_hyperparameters
from keras_lr.tuning import failed_trials
from keras_lr.tuning.coarse_to_fine import COARSE
from keras_lr.tuning.coarse_to_fine import REFINE
from keras_lr.tuning.coarse_to_fine import STAGE
from keras_lr.tuning.coarse_to_fine import decade_points
from keras_lr.tuning.coarse_to_fine import next_point

OPTIMUM = -2.3  # log10 of the best LR of the black box


def declare(min_lr=1e-6, max_lr=1.0, schedules=("constant",)):
    def build(hp):
        hp.Float("learning_rate", min_lr, max_lr, sampling="log")
        hp.Choice("schedule", list(schedules))
    return build


class BlackBox(CoarseToFine):
    """Loss `(log10(lr) - OPTIMUM)^2`; LRs above `diverge_above` fail."""

    diverge_above = math.inf
    refine_diverges_above = math.inf  # at the full budget only
    interrupt_at = None

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        self.calls = getattr(self, "calls", []) + [values["learning_rate"]]
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt  # a crash: not caught by keras-tuner
        if values["learning_rate"] > self.diverge_above or (
                values[STAGE] == REFINE and values["learning_rate"] > self.refine_diverges_above):
            raise FailedTrialError("Diverged: the training loss became nan at step 2.")
        return {"loss": (math.log10(values["learning_rate"]) - OPTIMUM) ** 2}


def search(tmp_path, max_trials=12, bounds=(1e-6, 1.0), overwrite=True, **kwargs):
    attributes = {k: kwargs.pop(k) for k in ("diverge_above", "refine_diverges_above",
                                             "interrupt_at") if k in kwargs}
    tuner_cls = type("Box", (BlackBox,), attributes)
    tuner = tuner_cls(declare(*bounds), objective="loss", max_trials=max_trials,
                      directory=str(tmp_path), project_name="p", overwrite=overwrite,
                      **kwargs)
    tuner.search(verbose=0)
    return tuner


def trials(tuner):
    return [tuner.oracle.trials[i] for i in sorted(tuner.oracle.trials)]


def lrs(tuner, stage=None):
    return [t.hyperparameters.values["learning_rate"] for t in trials(tuner)
            if stage is None or t.hyperparameters.values[STAGE] == stage]


@pytest.mark.parametrize("bounds, expected", [
    ((1e-6, 1.0), [-6, -5, -4, -3, -2, -1, 0]),
    ((3e-6, 0.5), [-5, -4, -3, -2, -1]),
    ((1e-3, 1e-1), [-3, -2, -1]),
    ((2e-4, 9e-3), [-3]),
])
def test_decade_points_are_the_powers_of_ten_inside_the_bounds(bounds, expected):
    assert decade_points(*bounds) == expected


def test_coarse_stage_tries_exactly_one_point_per_decade_first(tmp_path):
    tuner = search(tmp_path, max_trials=10)
    coarse = lrs(tuner, COARSE)
    np.testing.assert_allclose(np.log10(coarse), [-6, -5, -4, -3, -2, -1, 0], atol=1e-12)
    stages = [t.hyperparameters.values[STAGE] for t in trials(tuner)]
    assert stages == [COARSE] * 7 + [REFINE] * 3


def test_another_searched_hyperparameter_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"also declares `schedule` \(Choice\), which it "
                                         "would hold at the default"):
        BlackBox(declare(schedules=("constant", "one_cycle")), objective="loss",
                 max_trials=10, directory=str(tmp_path), project_name="p")


def test_the_stage_marker_stays_out_of_what_the_user_reads(tmp_path, capsys):
    tuner = search(tmp_path, max_trials=9)
    assert STAGE in trials(tuner)[0].hyperparameters.values  # internal: workers read it
    assert set(tuner.get_best_hyperparameters()[0].values) == {"learning_rate", "schedule"}
    assert STAGE not in tuner.oracle.get_best_trials()[0].hyperparameters.values
    capsys.readouterr()
    tuner.results_summary(3)
    assert STAGE not in capsys.readouterr().out
    verbose = type("Box", (BlackBox,), {})(
        declare(), objective="loss", max_trials=8, directory=str(tmp_path),
        project_name="v", overwrite=True)
    verbose.search(verbose=1)
    out = capsys.readouterr().out
    assert "learning_rate" in out and "Best Value So Far" in out and STAGE not in out


@pytest.mark.parametrize("refine", ["golden", "bisect"])
def test_refinement_stays_between_the_neighbours_of_the_best_decade(tmp_path, refine):
    tuner = search(tmp_path, max_trials=16, refine=refine)
    refined = np.log10(lrs(tuner, REFINE))
    assert 5 <= len(refined) <= 16 - 7  # it may converge before max_trials
    # The best decade is 1e-2 (|-2 - (-2.3)| < |-3 - (-2.3)|): its neighbours
    # are 1e-3 and 1e-1, strictly.
    assert np.all(refined > -3) and np.all(refined < -1)
    best = best_hyperparameters(tuner)[0]["learning_rate"]
    assert abs(math.log10(best) - OPTIMUM) < 0.02


def test_golden_section_points_follow_the_reference_sequence(tmp_path):
    # Hand-computed: best coarse -2 with neighbours -3 and -1 (equal gaps:
    # the lower side first), golden ratio r = 0.381966.
    r = (3 - math.sqrt(5)) / 2
    tuner = search(tmp_path, max_trials=10)
    refined = np.log10(lrs(tuner, REFINE))
    first = -2 - r                      # -2.382: better than -2 (the optimum is -2.3)
    second = first - r * (1 - r)        # bracket (-3, -2): left gap 1 - r > right gap r
    np.testing.assert_allclose(refined[:2], [first, second], atol=1e-9)
    # second = -2.618 is worse: the best stays at -2.382, bracket (-2.618, -2),
    # right gap r = 0.382 > left gap 0.236.
    np.testing.assert_allclose(refined[2], first + r * r, atol=1e-9)


def test_next_point_converges_and_respects_the_bounds():
    assert next_point(-2.0, [-3.0, -1.0], 0.5, 0.05, (-6, 0)) == -2.5  # tie: lower
    assert next_point(-2.0, [-3.0, -0.5], 0.5, 0.05, (-6, 0)) == -1.25
    assert next_point(-2.0, [-2.01, -1.99], 0.5, 0.05, (-6, 0)) is None
    # The best at the upper bound: only the left side is open.
    assert next_point(0.0, [-1.0], 0.5, 0.05, (-6, 0)) == -0.5


def test_search_stops_when_the_bracket_is_below_the_tolerance(tmp_path):
    tuner = search(tmp_path, max_trials=60, tolerance=0.2)
    assert len(trials(tuner)) < 60
    assert abs(math.log10(best_hyperparameters(tuner)[0]["learning_rate"]) - OPTIMUM) < 0.2


def test_diverging_trials_fail_with_their_reason_and_the_search_goes_on(tmp_path, capsys):
    # Three decades in a row diverge: keras-tuner's default would end the
    # search after 3 consecutive failures.
    tuner = search(tmp_path, max_trials=11, bounds=(1e-6, 1e2), diverge_above=0.05)
    failed = failed_trials(tuner)
    assert [round(math.log10(f["values"]["learning_rate"])) for f in failed] == [-1, 0, 1, 2]
    assert all(f["reason"] == "FailedTrialError: Diverged: the training loss became nan "
               "at step 2." for f in failed)
    assert len(trials(tuner)) == 11
    assert "failed (learning_rate=0.1): FailedTrialError: Diverged" in capsys.readouterr().out
    best = tuner.get_best_hyperparameters(20)
    assert len(best) == 7 and all(hp["learning_rate"] <= 0.05 for hp in best)


def test_a_search_where_everything_fails_reports_no_best(tmp_path):
    tuner = search(tmp_path, max_trials=5, bounds=(1e-3, 1.0), diverge_above=0.0)
    assert len(trials(tuner)) == 4  # the coarse stage; nothing to refine around
    assert tuner.get_best_hyperparameters() == []
    with pytest.raises(ValueError, match="No trial completed.*4 failed.*Diverged"):
        best_hyperparameters(tuner)


def test_keras_tuner_own_oracle_returns_a_failed_trial_as_best(tmp_path):
    # The keras-tuner 1.4 behaviour `best_hyperparameters` guards against.
    import keras_tuner as kt

    class Failing(kt.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            raise FailedTrialError("Diverged")

    tuner = Failing(declare(), objective="loss", max_trials=2, directory=str(tmp_path),
                    max_consecutive_failed_trials=5)
    tuner.search(verbose=0)
    assert len(tuner.get_best_hyperparameters()) == 1  # a failed trial
    with pytest.raises(ValueError, match="No trial completed"):
        best_hyperparameters(tuner)


def finder_result():
    lrs_ = np.geomspace(1e-6, 1.0, 200)
    x = np.log10(lrs_)
    # Flat, falls from 1e-4, lowest near 10**-1.5, then blows up.
    losses = 2.0 - 1.5 / (1 + np.exp(-(x + 3.5) * 3)) + np.exp((x + 1.5) * 4) * 0.05
    return LRFinderResult(lrs_, losses, smoothed_losses=losses)


def test_seeding_from_a_finder_result_skips_the_coarse_stage(tmp_path):
    result = finder_result()
    low, high = result.suggest_range()
    tuner = search(tmp_path, max_trials=5, finder_result=result)
    assert lrs(tuner, COARSE) == []
    refined = lrs(tuner, REFINE)
    assert len(refined) == 5
    assert refined[0] == pytest.approx(result.suggestion())
    assert all(low <= lr <= high for lr in refined)


def test_a_short_coarse_budget_reruns_the_best_coarse_lr_first(tmp_path):
    tuner = search(tmp_path, max_trials=9, coarse_epochs=1)
    refined = lrs(tuner, REFINE)
    assert refined[0] == pytest.approx(1e-2)  # re-run at the full budget
    assert len(refined) == 2


def test_when_the_best_coarse_lr_diverges_at_the_full_budget_refinement_goes_lower(tmp_path):
    # The short coarse stage picks 1e-2; at the full budget 1e-2 diverges.
    r = (3 - math.sqrt(5)) / 2
    tuner = search(tmp_path, max_trials=12, coarse_epochs=1, refine_diverges_above=5e-3)
    refined = np.log10(lrs(tuner, REFINE))
    assert refined[0] == pytest.approx(-2)                 # the re-run: fails
    assert refined[1] == pytest.approx(-2 - r)             # below it, towards 1e-3
    assert all(f["values"][STAGE] == REFINE for f in failed_trials(tuner))
    best = best_hyperparameters(tuner)[0]["learning_rate"]
    assert best <= 5e-3 and abs(math.log10(best) - OPTIMUM) < 0.1


def test_an_interrupted_search_resumes_without_redoing_finished_trials(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, max_trials=10, interrupt_at=4)
    resumed = search(tmp_path, max_trials=10, overwrite=False)
    # Trials 0-2 finished before the crash; trial 3 was running: only it
    # runs again, then the search goes on where it was.
    np.testing.assert_allclose(np.log10(resumed.calls[:4]), [-3, -2, -1, 0], atol=1e-12)
    assert len(resumed.calls) == 10 - 3
    assert len(trials(resumed)) == 10
    assert all(t.status == "COMPLETED" for t in trials(resumed))


def test_the_oracle_waits_for_running_coarse_trials_before_refining(tmp_path):
    oracle = CoarseToFineOracle(objective="loss", max_trials=10)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.hyperparameters.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    first = [oracle.create_trial(f"w{i}") for i in range(3)]
    assert [t.status for t in first] == ["RUNNING"] * 3
    assert oracle.create_trial("w3").status == "IDLE"  # coarse scores missing
    for trial in first:
        oracle.update_trial(trial.trial_id, {"loss": 1.0})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    nxt = oracle.create_trial("w3")
    assert nxt.status == "RUNNING" and nxt.hyperparameters.values[STAGE] == REFINE


@pytest.mark.parametrize("kwargs, message", [
    (dict(refine="newton"), "Argument `refine` must be one of 'golden', 'bisect'"),
    (dict(tolerance=0), "Argument `tolerance` must be > 0"),
    (dict(max_trials=6), "Argument `max_trials` must be at least the 7 coarse points"),
    (dict(coarse_sample=1.5), "Argument `coarse_sample` must be <= 1"),
    (dict(coarse_sample="half"), "Argument `coarse_sample` must be a fraction"),
    (dict(coarse_epochs=0), "Argument `coarse_epochs` must be"),
    (dict(divergence_factor=1.0), "Argument `divergence_factor` must be > 1"),
    (dict(bogus=1), "Unrecognized arguments"),
])
def test_invalid_arguments_are_rejected(tmp_path, kwargs, message):
    kwargs.setdefault("max_trials", 12)
    with pytest.raises(ValueError, match=message):
        BlackBox(declare(), objective="loss", directory=str(tmp_path), **kwargs)


def test_a_hypermodel_without_a_learning_rate_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="does not declare"):
        BlackBox(lambda hp: hp.Float("dropout", 0.0, 0.5), objective="loss",
                 directory=str(tmp_path))
