"""Reading a search's results without mistaking a failed trial for the best."""

import math
import os

from keras_lr.tuning._kt import TrialStatus

__all__ = ["best_hyperparameters", "completed_trials", "failed_trials", "failure_reason", "rank"]

# keras-tuner's chief/worker protocol does not carry a trial's message, so
# the worker that ran a failed trial also writes the reason into the trial's
# directory (see `CoarseToFine.on_trial_end`).
REASON_FILE = "failure_reason.txt"


def _oracle(tuner_or_oracle):
    return getattr(tuner_or_oracle, "oracle", tuner_or_oracle)


def completed_trials(tuner):
    """The trials that finished with a finite score, best first.

    keras-tuner 1.4's `Oracle.get_best_trials(n)` pads its answer with
    failed trials when fewer than `n` completed, so
    `get_best_hyperparameters()` can return a failed (e.g. diverged)
    trial's values. This function never does.

    Args:
        tuner: A keras-tuner `Tuner` (any kind) or its `Oracle`.

    Returns:
        A list of `keras_tuner.engine.trial.Trial`.
    """
    oracle = _oracle(tuner)
    return rank(oracle.trials.values(), oracle.objective.direction)


def rank(trials, direction):
    """The `trials` that completed with a finite score, best first
    (`direction` is the objective's, `"min"` or `"max"`)."""
    completed = [t for t in trials
                 if t.status == TrialStatus.COMPLETED and t.score is not None
                 and math.isfinite(t.score)]
    return sorted(completed, key=lambda t: t.score, reverse=direction == "max")


def best_hyperparameters(tuner, num_trials=1):
    """The hyperparameters of the best completed trials, best first.

    The safe replacement for `tuner.get_best_hyperparameters()`: failed and
    invalid trials are never returned (see `completed_trials`).

    Args:
        tuner: A keras-tuner `Tuner` or its `Oracle`.
        num_trials: Integer >= 1. Defaults to `1`.

    Returns:
        A list of at most `num_trials` `keras_tuner.HyperParameters`.

    Raises:
        ValueError: if `num_trials < 1`, or if no trial completed; the
            message lists why the trials failed.

    Example:

    ```python
    hp = keras_lr.tuning.best_hyperparameters(tuner)[0]
    print(hp["learning_rate"])
    ```
    """
    if isinstance(num_trials, bool) or not isinstance(num_trials, int) or num_trials < 1:
        raise ValueError(
            f"Argument `num_trials` must be an integer >= 1. "
            f"Received: num_trials={num_trials!r}")
    trials = completed_trials(tuner)
    if not trials:
        failed = failed_trials(tuner)
        reasons = "; ".join(f"trial {t['trial_id']}: {t['reason']}" for t in failed[:5])
        raise ValueError(
            f"No trial completed, so there are no best hyperparameters "
            f"({len(failed)} failed{': ' + reasons if reasons else ''}).")
    return [t.hyperparameters for t in trials[:num_trials]]


def failure_reason(message):
    """The last line of a failed trial's traceback: the error and its text."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "unknown (no message recorded)"
    reason = lines[-1].strip()
    for prefix in ("keras_tuner.src.errors.", "keras_tuner.errors."):
        reason = reason.replace(prefix, "")
    return reason


def failed_trials(tuner):
    """The trials that failed, with the reason, in the order they ended.

    keras-tuner records the reason only as a traceback inside the trial's
    file (and in chief/worker mode not at all: `CoarseToFine` workers write
    it next to the trial); this puts it next to the hyperparameters. Call it
    in the process that ran the search, or on a tuner reloaded from the
    chief's directory.

    Args:
        tuner: A keras-tuner `Tuner` or its `Oracle`.

    Returns:
        A list of dicts: `trial_id`, `values` (the hyperparameter values),
        `status` (`"FAILED"` or `"INVALID"`) and `reason` (the last line of
        the error, e.g. ``FailedTrialError: Diverged: the training loss
        became nan at step 3.``).
    """
    oracle = _oracle(tuner)
    failed = [t for t in oracle.trials.values()
              if t.status in (TrialStatus.FAILED, TrialStatus.INVALID)]
    order = {trial_id: i for i, trial_id in enumerate(getattr(oracle, "end_order", []))}
    failed.sort(key=lambda t: order.get(t.trial_id, len(order)))
    return [{"trial_id": t.trial_id, "values": dict(t.hyperparameters.values),
             "status": t.status, "reason": _reason(oracle, t)}
            for t in failed]


def _reason(oracle, trial):
    if trial.message:
        return failure_reason(trial.message)
    project = getattr(oracle, "_project_dir", None)
    path = project and os.path.join(project, f"trial_{trial.trial_id}", REASON_FILE)
    if path and os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    return failure_reason(None)
