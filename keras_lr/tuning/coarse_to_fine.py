"""`CoarseToFine`: one trial per decade, then refine around the best decade."""

import math
import os
import time

import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.keras_private import HashedValuesMixin
from keras_lr.finder.result import LRFinderResult
from keras_lr.tuning._kt import TrialStatus
from keras_lr.tuning._kt import errors
from keras_lr.tuning._kt import kt
from keras_lr.tuning.divergence import require_finite_history
from keras_lr.tuning.divergence import validate_factor
from keras_lr.tuning.divergence import with_divergence_stop
from keras_lr.tuning.hypermodel import LEARNING_RATE
from keras_lr.tuning.hypermodel import LRHyperModel
from keras_lr.tuning.results import completed_trials
from keras_lr.tuning.results import rank
from keras_lr.tuning.results import REASON_FILE
from keras_lr.tuning.results import failure_reason

__all__ = ["CoarseToFine", "CoarseToFineOracle", "decade_points", "next_point"]

STAGE = "keras_lr/stage"
COARSE, REFINE = "coarse", "refine"
# Where the next point goes, as a fraction of the larger gap next to the best.
REFINE_RATIOS = {"golden": (3.0 - math.sqrt(5.0)) / 2.0, "bisect": 0.5}
_SAME = 1e-9  # decades: two LRs this close are one point


def stage_of(trial):
    """`"coarse"` or `"refine"`: the stage a trial of this oracle belongs to."""
    return trial.hyperparameters.values.get(STAGE)


def public_trial(trial):
    """A copy of `trial` without the internal stage marker."""
    if STAGE not in trial.hyperparameters.values:
        return trial
    copy = kt.engine.trial.Trial.from_state(trial.get_state())
    copy.hyperparameters.values.pop(STAGE, None)
    return copy


def _is_searched(hp):
    """Whether a hyperparameter has more than one value to search."""
    config = hp.get_config()
    if isinstance(hp, kt.engine.hyperparameters.Fixed):
        return False
    if "values" in config:  # Choice
        return len(config["values"]) > 1
    if "min_value" in config:  # Int, Float
        return config["min_value"] != config["max_value"]
    return isinstance(hp, kt.engine.hyperparameters.Boolean)


def _lr_only(hypermodel):
    """An `LRHyperModel` left at its default schedules, narrowed to "constant".

    CoarseToFine searches the learning rate only; the default's `schedule`
    choice would be held at its default value ("constant") anyway, so it is
    narrowed (a new hypermodel: the user's keeps its three) and said,
    instead of refused. Schedules the user named are checked as given.
    """
    if not (isinstance(hypermodel, LRHyperModel) and hypermodel.schedules_by_default):
        return hypermodel
    narrowed = hypermodel.with_schedules(("constant",))
    keras_private.print_msg(
        "CoarseToFine searches the learning rate at a constant rate: LRHyperModel's "
        "default schedules narrowed to ('constant',). Pass `schedules=` with one name "
        "(e.g. `schedules=('one_cycle',)`) to search under another.")
    return narrowed


def decade_points(min_lr, max_lr):
    """The powers of ten in `[min_lr, max_lr]`, as log10 values."""
    low = math.ceil(math.log10(min_lr) - _SAME)
    high = math.floor(math.log10(max_lr) + _SAME)
    return [float(k) for k in range(low, high + 1)]


def next_point(best, tried, ratio, tolerance, bounds):
    """The next log10 LR of the refinement, or `None` when it has converged.

    `best` is the log10 LR of the best trial; `tried` every log10 LR tried
    or running (and, when seeded, the seed range's ends). The bracket is the
    nearest tried point on each side of `best` (the bounds where there is
    none); the new point goes into the larger side (the lower one on a tie),
    `ratio` of the way from `best` (0.382 is golden-section search, 0.5
    bisection in log space).
    """
    below = [p for p in tried if p < best - _SAME]
    above = [p for p in tried if p > best + _SAME]
    left = best - (max(below) if below else bounds[0])
    right = (min(above) if above else bounds[1]) - best
    if max(left, right) < tolerance:
        return None
    # On a tie, the lower side first: it cannot diverge, and a short coarse
    # budget (fewer steps) favours too large a learning rate.
    return best + ratio * right if right > left else best - ratio * left


class CoarseToFineOracle(HashedValuesMixin, kt.Oracle):
    """The oracle of `CoarseToFine` (see there); usable with any `kt.Tuner`.

    Args:
        objective: As for keras-tuner's oracles.
        max_trials: Integer >= 1, the most trials in all.
        min_lr: Float, the lower search bound. Defaults to the lower bound
            of the `learning_rate` hyperparameter the hypermodel declares.
        max_lr: Float, the upper search bound. Defaults to the
            hyperparameter's upper bound.
        refine: `"golden"` or `"bisect"`. Defaults to `"golden"`.
        tolerance: Float > 0, in decades: refinement stops when both gaps
            around the best point are smaller. Defaults to `0.05`.
        seed_range: Optional `(low, high)` LRs: skip the coarse stage and
            refine inside this range, starting at `seed_lr` (its geometric
            mean by default).
        seed_lr: Optional float inside `seed_range`.
        separate_stages: Bool. Whether the coarse trials ran on a smaller
            budget: then the refinement first re-runs the best coarse LR and
            compares refinement trials only with each other. Defaults to
            `False`.
        hyperparameters: As for keras-tuner's oracles.
        allow_new_entries: As for keras-tuner's oracles.
        tune_new_entries: As for keras-tuner's oracles.
        seed: As for keras-tuner's oracles.
        max_retries_per_trial: As for keras-tuner's oracles.
        max_consecutive_failed_trials: Integer or `None` (never end the
            search for failures: in an LR search the top decades often all
            diverge). Defaults to `None`.
    """

    def __init__(self, objective=None, max_trials=12, min_lr=None, max_lr=None,
                 refine="golden", tolerance=0.05, seed_range=None, seed_lr=None,
                 seed_argument="seed_range",
                 separate_stages=False, hyperparameters=None, allow_new_entries=True,
                 tune_new_entries=True, seed=None, max_retries_per_trial=0,
                 max_consecutive_failed_trials=None):
        super().__init__(
            objective=objective, max_trials=max_trials, hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries,
            seed=seed, max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials)
        _validation.require_int("max_trials", max_trials, minimum=1)
        self.min_lr = None if min_lr is None else _validation.require_positive("min_lr", min_lr)
        self.max_lr = None if max_lr is None else _validation.require_positive("max_lr", max_lr)
        self.refine = _validation.require_one_of("refine", refine, tuple(REFINE_RATIOS))
        self.tolerance = _validation.require_positive("tolerance", tolerance)
        self.seed_range = None
        self._seed_argument = seed_argument
        if seed_range is not None:
            if len(seed_range) != 2 or not 0 < seed_range[0] < seed_range[1]:
                raise ValueError(
                    "Argument `seed_range` must be a pair `(low, high)` with "
                    f"0 < low < high. Received: seed_range={seed_range!r}")
            self.seed_range = (float(seed_range[0]), float(seed_range[1]))
        if seed_lr is not None:
            if self.seed_range is None:
                raise ValueError(
                    "Argument `seed_lr` needs `seed_range`. "
                    f"Received: seed_lr={seed_lr!r}, seed_range=None")
            low, high = self.seed_range
            if not low <= seed_lr <= high:
                raise ValueError(
                    f"Argument `seed_lr` must be inside seed_range={self.seed_range}. "
                    f"Received: seed_lr={seed_lr!r}")
            seed_lr = float(seed_lr)
        self.seed_lr = seed_lr
        self.separate_stages = _validation.require_bool("separate_stages", separate_stages)
        # The stage travels with each trial (workers read it), but the
        # tables and summaries the user reads leave it out.
        keras_private.hide_from_trial_table(self, public_trial)

    # -- the search space ---------------------------------------------------
    def bounds(self):
        """`(min_lr, max_lr)`: the arguments, else the hyperparameter's."""
        low, high = self.min_lr, self.max_lr
        if low is None or high is None:
            hp = self._learning_rate_hp()
            low = hp.min_value if low is None else low
            high = hp.max_value if high is None else high
        if not high > low:
            raise ValueError(
                f"`max_lr` must be > `min_lr`. Received: min_lr={low!r}, max_lr={high!r}")
        if self.seed_range is not None and not (
                low <= self.seed_range[0] and self.seed_range[1] <= high):
            if self._seed_argument == "finder_result":
                raise ValueError(
                    "Argument `finder_result` suggests the range "
                    f"{self.seed_range!r} (`suggest_range()`), which must lie inside "
                    f"the search bounds ({low!r}, {high!r}): widen `min_lr` / "
                    "`max_lr` (of CoarseToFine or the hypermodel), or run the "
                    "finder on the same model and data.")
            raise ValueError(
                f"Argument `seed_range` must lie inside the search bounds "
                f"({low!r}, {high!r}). Received: seed_range={self.seed_range!r}")
        return float(low), float(high)

    def _learning_rate_hp(self):
        for hp in self.hyperparameters.space:
            if hp.name == LEARNING_RATE:
                return hp
        raise ValueError(
            f"CoarseToFine searches the hyperparameter `{LEARNING_RATE}`, which "
            "the hypermodel does not declare: use `keras_lr.tuning.LRHyperModel`, "
            f"or call `hp.Float('{LEARNING_RATE}', min_lr, max_lr, sampling='log')` "
            "in your build function (or pass `min_lr` and `max_lr`).")

    def coarse_points(self):
        """The log10 LRs of the coarse stage (none when seeded)."""
        if self.seed_range is not None:
            return []
        return decade_points(*self.bounds())

    def _values(self, log_lr, stage):
        """Every active hyperparameter at its default, the LR at `10**log_lr`."""
        hps = self.hyperparameters.copy()
        hps.values = {}
        for hp in hps.space:
            if hps.is_active(hp):
                hps.values[hp.name] = hp.default
        hps.values[LEARNING_RATE] = float(10.0 ** log_lr)
        hps.values[STAGE] = stage
        return hps.values

    # -- the search ---------------------------------------------------------
    def _trials(self, stage=None):
        return [t for t in self.trials.values()
                if stage is None or t.hyperparameters.values.get(STAGE) == stage]

    @staticmethod
    def _log_lr(trial):
        return math.log10(trial.hyperparameters.values[LEARNING_RATE])

    def _running(self, trials):
        return [t for t in trials if t.status == TrialStatus.RUNNING]

    def _check_space(self):
        """Refuses a hyperparameter other than the LR with values to search."""
        searched = [hp for hp in self.hyperparameters.space
                    if hp.name != LEARNING_RATE and _is_searched(hp)]
        if searched:
            names = ", ".join(f"`{hp.name}` ({type(hp).__name__})" for hp in searched)
            raise ValueError(
                f"CoarseToFine searches the learning rate only, but the hypermodel "
                f"also declares {names}, which it would hold at the default. Fix "
                "them (`hp.Fixed`, or `LRHyperModel(schedules=...)` with one "
                "schedule; run one CoarseToFine per schedule to compare them), or "
                "use a keras-tuner tuner that searches them "
                "(`keras_tuner.BayesianOptimization`).")

    def populate_space(self, trial_id):
        self._check_space()
        low, high = self.bounds()
        coarse = self._trials(COARSE)
        done = [self._log_lr(t) for t in coarse]
        for point in self.coarse_points():
            if all(abs(point - p) > _SAME for p in done):
                return {"status": TrialStatus.RUNNING, "values": self._values(point, COARSE)}
        if self._running(coarse):
            return {"status": TrialStatus.IDLE}  # refinement needs every coarse score
        refine = self._trials(REFINE)
        # Whether refinement trials are compared only with each other: their
        # budget differs from the coarse stage's, or there was none.
        alone = self.separate_stages or self.seed_range is not None
        if not refine:
            first = self._first_refinement(coarse)
            if first is None:
                return {"status": TrialStatus.STOPPED}
            if alone:
                return {"status": TrialStatus.RUNNING, "values": self._values(first, REFINE)}
        pool = refine if alone else coarse + refine
        best = rank(pool, self.objective.direction)
        tried = [self._log_lr(t) for t in coarse + refine]
        if self.seed_range is not None:
            tried += [math.log10(v) for v in self.seed_range]
        if not best:
            if self._running(pool):
                return {"status": TrialStatus.IDLE}  # wait for a score
            # Every refinement trial failed (e.g. the best coarse LR diverges
            # at the full budget): go below the lowest one, which is safer.
            lowest = min(self._log_lr(t) for t in refine)
            below = [p for p in tried if p < lowest - _SAME]
            gap = lowest - (max(below) if below else math.log10(low))
            if gap < self.tolerance:
                return {"status": TrialStatus.STOPPED}
            point = lowest - REFINE_RATIOS[self.refine] * gap
            return {"status": TrialStatus.RUNNING, "values": self._values(point, REFINE)}
        point = next_point(self._log_lr(best[0]), tried, REFINE_RATIOS[self.refine],
                           self.tolerance, (math.log10(low), math.log10(high)))
        if point is None:  # converged
            return {"status": TrialStatus.IDLE if self._running(refine) else TrialStatus.STOPPED}
        return {"status": TrialStatus.RUNNING, "values": self._values(point, REFINE)}

    def _first_refinement(self, coarse):
        """The first refinement point: the seed, or the best coarse LR."""
        if self.seed_range is not None:
            if self.seed_lr is not None:
                return math.log10(self.seed_lr)
            return 0.5 * (math.log10(self.seed_range[0]) + math.log10(self.seed_range[1]))
        best = rank(coarse, self.objective.direction)
        if not best:
            return None  # every coarse trial failed: nothing to refine around
        return self._log_lr(best[0])

    def get_best_trials(self, num_trials=1):
        """The best completed trials; never a failed one (unlike keras-tuner 1.4).

        Copies without the oracle's internal stage marker, so that
        `get_best_hyperparameters()[0].values` and `results_summary()` show
        only the user's hyperparameters."""
        return [public_trial(t) for t in completed_trials(self)[:num_trials]]

    def values_for_hash(self, values):
        # The LR is rounded so that a refinement point equal to a tried one
        # within float noise counts as a duplicate; the stage is kept, so a
        # re-run of the best coarse LR on the full budget is a new trial.
        if LEARNING_RATE in values:
            values[LEARNING_RATE] = round(math.log10(values[LEARNING_RATE]), 9)
        return values


class CoarseToFine(kt.Tuner):
    """Coarse-to-fine learning-rate search on a log scale.

    1. **Coarse**: one trial per decade, at the powers of ten between the
       bounds (`1e-6, 1e-5, ..., 1` for the defaults), optionally on a
       `coarse_sample` of the training data and `coarse_epochs` epochs.
    2. **Refine**: around the best LR, inside the bracket its tried
       neighbours form, each new trial goes into the larger side of the
       bracket, golden-section (`refine="golden"`) or half-way
       (`refine="bisect"`) in log space, until `max_trials` or until the
       bracket is narrower than `tolerance` decades. With a short coarse
       budget, the refinement first re-runs the best coarse LR at the full
       budget and compares refinement trials only with each other (when
       every refinement trial so far failed, the next goes below the lowest
       of them).

    With `finder_result` (a `keras_lr.LRFinderResult`), the coarse stage is
    skipped: the refinement starts at the finder's suggestion inside its
    `suggest_range()`.

    A trial whose training loss becomes NaN or exceeds `divergence_factor`
    times its first value is stopped at once (`keras_lr.tuning.DivergenceStop`)
    and recorded as failed with the reason; the search goes on, and a failed
    trial is never returned as the best (`get_best_trials`,
    `get_best_hyperparameters`, `get_best_models`). The tuner prints each
    failure's reason.

    Only `learning_rate` is searched; every other hyperparameter of the
    hypermodel takes its default value (fix others with `hyperparameters=`
    or tune them jointly with keras-tuner's `BayesianOptimization`).

    The tuner runs in one process or in keras-tuner's chief/worker mode
    (`KERASTUNER_*` environment variables; see
    `python -m keras_lr.tuning.launch`). Trials run on whatever device
    TensorFlow or JAX sees.

    Args:
        hypermodel: A `keras_lr.tuning.LRHyperModel`, another
            `keras_tuner.HyperModel` or a build function that declares
            `hp.Float("learning_rate", ..., sampling="log")`.
        objective: As for keras-tuner. Defaults to `"val_loss"`.
        max_trials: Integer >= the number of coarse points. Defaults to `12`.
        min_lr: Float. Defaults to the hyperparameter's lower bound.
        max_lr: Float. Defaults to the hyperparameter's upper bound.
        refine: `"golden"` or `"bisect"`. Defaults to `"golden"`.
        tolerance: Float > 0, decades. Defaults to `0.05`.
        finder_result: Optional `keras_lr.LRFinderResult` to seed from.
        coarse_epochs: Optional integer >= 1: epochs of a coarse trial
            (default: the `epochs` given to `search`).
        coarse_sample: Optional part of the training data for coarse
            trials: a float in (0, 1] (a fraction) or an integer (a count:
            of samples for arrays, a fixed random subset; of batches for a
            `tf.data.Dataset`, its first ones).
        divergence_factor: Float > 1 or `None`. Defaults to `4.0`.
        sweep_coarse: Boolean. `True` trains every coarse learning rate at
            once, in one `keras_lr.sweep` of the model built for the first
            coarse trial (one compilation, one step loop); each rate is still
            recorded as its own trial, with its final metrics, and a rate
            whose copy diverged (`keras_lr.sweep`'s rule at
            `divergence_factor`) as a failed trial. Needs a constant learning
            rate, arrays `x`, `y`, and one process (no chief/worker); the
            hypermodel's own `fit` and the `callbacks` given to `search` are
            not used for the coarse stage. Defaults to `False`.
        seed: Optional integer (the random subset).
        hyperparameters: As for `CoarseToFineOracle`.
        tune_new_entries: As for `CoarseToFineOracle`.
        allow_new_entries: As for `CoarseToFineOracle`.
        max_retries_per_trial: As for `CoarseToFineOracle`.
        max_consecutive_failed_trials: As for `CoarseToFineOracle`
            (defaults to `None`: failures never end the search).
        **kwargs: Passed to `keras_tuner.Tuner` (`directory`,
            `project_name`, `overwrite`, `executions_per_trial`,
            `distribution_strategy`, ...); it rejects unknown ones.

    Raises:
        ValueError: for an invalid argument, or a `max_trials` smaller than
            the number of coarse points.

    Example:

    ```python
    tuner = keras_lr.tuning.CoarseToFine(
        keras_lr.tuning.LRHyperModel(build_model, loss="mse", min_lr=1e-5,
                                     max_lr=1.0, schedules=("constant",)),
        objective="val_loss", max_trials=9, coarse_sample=0.3,
        directory="tuning", project_name="lr")
    tuner.search(x, y, epochs=10, validation_split=0.2)
    best_lr = keras_lr.tuning.best_hyperparameters(tuner)[0]["learning_rate"]
    ```
    """

    def __init__(self, hypermodel=None, objective="val_loss", max_trials=12, min_lr=None,
                 max_lr=None, refine="golden", tolerance=0.05, finder_result=None,
                 coarse_epochs=None, coarse_sample=None, divergence_factor=4.0,
                 sweep_coarse=False, seed=None,
                 hyperparameters=None, tune_new_entries=True, allow_new_entries=True,
                 max_retries_per_trial=0, max_consecutive_failed_trials=None, **kwargs):
        if coarse_epochs is not None:
            coarse_epochs = _validation.require_int("coarse_epochs", coarse_epochs, minimum=1)
        if coarse_sample is not None:
            if isinstance(coarse_sample, bool) or not isinstance(coarse_sample, (int, float)):
                raise ValueError(
                    "Argument `coarse_sample` must be a fraction in (0, 1] or a "
                    f"number of samples. Received: coarse_sample={coarse_sample!r}")
            if isinstance(coarse_sample, float):
                _validation.require_number("coarse_sample", coarse_sample, minimum=0,
                                           maximum=1, min_inclusive=False)
            else:
                _validation.require_int("coarse_sample", coarse_sample, minimum=1)
        divergence_factor = validate_factor(divergence_factor)
        seed_range = seed_lr = None
        if finder_result is not None:
            _validation.require_type(
                "finder_result", finder_result, LRFinderResult,
                "a `keras_lr.LRFinderResult` (what `keras_lr.find_lr` returns)")
            seed_range = finder_result.suggest_range()
            seed_lr = finder_result.suggestion()
            if not seed_range[0] <= seed_lr <= seed_range[1]:
                seed_lr = None  # the range's geometric mean
        self.coarse_epochs = coarse_epochs
        self.coarse_sample = coarse_sample
        self.sweep_coarse = _validation.require_bool("sweep_coarse", sweep_coarse)
        self._swept = {}
        self.divergence_factor = divergence_factor
        self.seed = seed
        oracle = CoarseToFineOracle(
            objective=objective, max_trials=max_trials, min_lr=min_lr, max_lr=max_lr,
            refine=refine, tolerance=tolerance, seed_range=seed_range, seed_lr=seed_lr,
            seed_argument="finder_result",
            separate_stages=coarse_epochs is not None or coarse_sample is not None,
            hyperparameters=hyperparameters, allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries, seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials)
        self._ran_a_trial = True
        super().__init__(oracle, _lr_only(hypermodel), **kwargs)
        if self.hypermodel is not None and isinstance(self.oracle, CoarseToFineOracle):
            # (A worker's oracle is a client of the chief's, which checks.)
            oracle.bounds()  # a seed outside the bounds fails here, not in `search`
            oracle._check_space()  # and a second searched hyperparameter
            coarse = len(oracle.coarse_points())
            if max_trials < coarse + (1 if oracle.separate_stages else 0):
                raise ValueError(
                    f"Argument `max_trials` must be at least the {coarse} coarse "
                    f"points{' plus the re-run of the best' if oracle.separate_stages else ''}"
                    f" between {oracle.bounds()}. Received: max_trials={max_trials}")

    # -- one trial ----------------------------------------------------------
    def run_trial(self, trial, *args, **kwargs):
        if stage_of(trial) == COARSE:
            args, kwargs = self._coarse_budget(args, kwargs)
            if self.sweep_coarse:
                return self._swept_trial(trial, args, kwargs)
        # verbose=0: on_trial_end prints the reason of every failure.
        callbacks = with_divergence_stop(kwargs.pop("callbacks", None),
                                         self.divergence_factor, verbose=0)
        results = super().run_trial(trial, *args, callbacks=callbacks, **kwargs)
        require_finite_history(results, [self.oracle.objective.name])
        return results

    def _swept_trial(self, trial, args, kwargs):
        """A coarse trial's metrics, from one sweep of every coarse rate."""
        from keras_lr.sweeps import sweep

        lr = trial.hyperparameters.values[LEARNING_RATE]
        key = round(math.log10(lr), 6)
        if key not in self._swept:
            if not isinstance(self.oracle, CoarseToFineOracle):
                raise ValueError("`sweep_coarse=True` runs in one process only, not as a "
                                 "chief/worker search.")
            kwargs = dict(kwargs)
            x = args[0] if args else kwargs.pop("x")
            y = args[1] if len(args) > 1 else kwargs.pop("y", None)
            validation_data = kwargs.pop("validation_data", None)
            split = kwargs.pop("validation_split", 0.0)
            if split:
                (x, y, _), validation_data = keras_private.split_for_validation(
                    x, y, None, split)
            rates = [10.0 ** p for p in self.oracle.coarse_points()]
            model = self.hypermodel.build(trial.hyperparameters)
            result = sweep(model, x, y, learning_rates=rates, epochs=kwargs.get("epochs", 1),
                           batch_size=kwargs.get("batch_size") or 32,
                           validation_data=validation_data,
                           shuffle=kwargs.get("shuffle", True),
                           divergence_threshold=self.divergence_factor, verbose=0)
            for rate, history, step in zip(rates, result.histories, result.diverged_at):
                self._swept[round(math.log10(rate), 6)] = (
                    {name: values[-1] for name, values in history.items()}, step)
        metrics, diverged = self._swept[key]
        if diverged is not None:
            raise errors.FailedTrialError(
                f"the loss diverged at step {diverged} (coarse sweep)")
        return metrics

    def _coarse_budget(self, args, kwargs):
        kwargs = dict(kwargs)
        if self.coarse_epochs is not None:
            kwargs["epochs"] = self.coarse_epochs
        if self.coarse_sample is None:
            return args, kwargs
        args = list(args)
        in_args = bool(args)
        x = args[0] if in_args else kwargs.get("x")
        y = (args[1] if len(args) > 1 else None) if in_args else kwargs.get("y")
        if hasattr(x, "take") and hasattr(x, "cardinality"):  # tf.data.Dataset
            batches = int(x.cardinality())
            if batches <= 0:
                raise ValueError(
                    "`coarse_sample` needs a dataset of known length: this one's is "
                    "unknown or infinite.")
            keep = (self.coarse_sample if isinstance(self.coarse_sample, int)
                    else max(1, round(self.coarse_sample * batches)))
            x = x.take(keep)
        else:
            import keras

            first = keras.tree.flatten(x)[0]
            n = int(first.shape[0])
            keep = (min(n, self.coarse_sample) if isinstance(self.coarse_sample, int)
                    else max(1, round(self.coarse_sample * n)))
            rows = np.sort(np.random.default_rng(self.seed).permutation(n)[:keep])
            take = lambda a: a if a is None else np.asarray(a)[rows]  # noqa: E731
            x = keras.tree.map_structure(take, x)
            if y is not None:
                y = keras.tree.map_structure(take, y)
        if in_args:
            args[0] = x
            if len(args) > 1:
                args[1] = y
        else:
            kwargs["x"], kwargs["y"] = x, y
        return tuple(args), kwargs

    # -- the search loop ----------------------------------------------------
    def pre_create_trial(self):
        # The oracle answers IDLE while the trials it waits for still run
        # (other workers); keras-tuner would ask again at once, in a loop.
        if not self._ran_a_trial:
            time.sleep(0.5)
        self._ran_a_trial = False

    def on_trial_begin(self, trial):
        self._ran_a_trial = True
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        failed = trial.status in (TrialStatus.FAILED, TrialStatus.INVALID)
        if failed:  # before the trial ends: the chief may stop right after
            reason = failure_reason(trial.message)
            with open(os.path.join(self.get_trial_dir(trial.trial_id), REASON_FILE), "w") as f:
                f.write(reason + "\n")
        super().on_trial_end(trial)
        if failed:
            print(f"Trial {trial.trial_id} failed (learning_rate="
                  f"{trial.hyperparameters.values.get(LEARNING_RATE):.3g}): {reason}")
