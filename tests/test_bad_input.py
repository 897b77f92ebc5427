"""Bad input to every public signature: a clear error, never silence.

For every public class and function (`SIGNATURES`), each argument is given
values that no reading of its documentation admits (NaN, an infinity, a
float32 overflow, a string for a number, a number for a string choice,
...), one at a time, the others valid. Every case must raise a
`ValueError` or `TypeError` whose message names the argument, in Keras's
format (``Argument `x` must be ...``), before any training. A case that
raises something else, or a message that does not name the argument, is
*unclear*; a case that raises nothing is *silent*. Both fail.

A class is checked when it is made: an argument checked only when it is
first used (a callback `every` epochs into training) aborts a run late.
"""

import math

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr import callbacks as C
from keras_lr import finder as F
from keras_lr import optimizers as O
from keras_lr import schedules as S
from keras_lr import sweeps as W
from keras_lr import workflows as K
from tests import probe

NAN, INF = float("nan"), float("inf")

# Values no number argument admits; then the ones a range excludes.
NUMBER = [NAN, INF, -INF, 1e39, "0.1", [0.1], True, object()]
POSITIVE = NUMBER + [0.0, -1.0]
NON_NEGATIVE = NUMBER + [-1.0]
FRACTION = NUMBER + [-0.5, 1.5]
INTEGER = [2.5, "3", True, NAN, None, object()]
POSITIVE_INT = INTEGER + [0, -1]
NON_NEGATIVE_INT = INTEGER + [-1]
OPTIONAL_POSITIVE_INT = [v for v in POSITIVE_INT if v is not None]  # None is valid
BOOL = ["yes", 2, None, 0.5]
CHOICE = ["bogus", 3, None]
OPTIONAL_NUMBER = [v for v in NUMBER]  # None is valid for these
OPTIONAL_POSITIVE = [v for v in POSITIVE]
RATE = [NAN, INF, -1.0, 0.0, 1e39, "0.1", [0.1], object()]
OPTIMIZER = ["adam", 3, None, object()]
CALLABLE = [3, "f", None]


def _data(rows=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return x, (x @ np.ones((4, 1), "float32"))


def _model(optimizer=None):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="body"),
                              keras.layers.Dense(1, name="head")], name="net")
    model.compile(optimizer or keras.optimizers.SGD(0.01), "mse")
    return model


def _curve():
    lrs = np.geomspace(1e-5, 1.0, 60)
    losses = np.concatenate([np.linspace(2.0, 0.5, 45), np.linspace(0.5, 4.0, 15)])
    return lrs, losses


# Each entry: (name, call, {argument: bad values}). `call(**overrides)` calls
# the public signature with valid arguments but for the overridden ones.
def _schedules():
    def cyclical(cls, **extra):
        def call(**kw):
            args = dict(initial_learning_rate=0.01, maximal_learning_rate=0.1,
                        step_size=4, **extra)
            args.update(kw)
            return cls(**args)
        return call

    # tensorflow-addons' semantics: either bound may be the larger, and 0.
    common = {"initial_learning_rate": NON_NEGATIVE, "maximal_learning_rate": NON_NEGATIVE,
              "step_size": POSITIVE, "scale_mode": CHOICE, "step_size_down": POSITIVE}
    return [
        ("TriangularCyclicalLearningRate", cyclical(S.TriangularCyclicalLearningRate), common),
        ("Triangular2CyclicalLearningRate", cyclical(S.Triangular2CyclicalLearningRate),
         common),
        ("ExponentialCyclicalLearningRate", cyclical(S.ExponentialCyclicalLearningRate),
         dict(common, gamma=FRACTION + [0.0])),
        ("CyclicalLearningRate",
         cyclical(S.CyclicalLearningRate, scale_fn=probe.sqrt_cycle_decay),
         dict(common, scale_fn=CALLABLE)),
        ("OneCycle", lambda **kw: S.OneCycle(**{"max_learning_rate": 0.1, "total_steps": 100,
                                                **kw}),
         {"max_learning_rate": POSITIVE, "total_steps": POSITIVE_INT,
          "pct_start": FRACTION + [0.0, 1.0], "anneal_strategy": CHOICE,
          "div_factor": POSITIVE, "final_div_factor": POSITIVE, "three_phase": BOOL}),
        ("OneCycleMomentum", lambda **kw: S.OneCycleMomentum(**{"total_steps": 100, **kw}),
         {"total_steps": POSITIVE_INT, "pct_start": FRACTION, "anneal_strategy": CHOICE,
          "three_phase": BOOL, "base_momentum": FRACTION, "max_momentum": FRACTION}),
        ("Warmup", lambda **kw: S.Warmup(**{"schedule": 0.1, "warmup_steps": 10, **kw}),
         {"schedule": ["x", NAN, -1.0, [0.1]], "warmup_steps": NON_NEGATIVE_INT,
          "initial_learning_rate": NON_NEGATIVE, "shape": CHOICE, "local_step": BOOL}),
        ("Join", lambda **kw: S.Join(**{"schedules": [0.1, S.OneCycle(0.1, 10)],
                                        "boundaries": [5], **kw}),
         {"schedules": ["x", [0.1], [0.1, "x"], None], "boundaries": [[-1], [2.5], "5", [],
                                                                   [5, 3]]}),
        ("WarmupStableDecay", lambda **kw: S.WarmupStableDecay(
            **{"peak_learning_rate": 0.1, "total_steps": 100, **kw}),
         {"peak_learning_rate": POSITIVE, "total_steps": POSITIVE_INT,
          "warmup_steps": NON_NEGATIVE_INT, "decay_fraction": FRACTION + [0.0],
          "decay_shape": CHOICE, "initial_learning_rate": NON_NEGATIVE,
          "final_learning_rate": NON_NEGATIVE}),
        ("ControlledSchedule", lambda **kw: S.ControlledSchedule(**{"schedule": 0.1, **kw}),
         {"schedule": ["x", NAN, [0.1]], "scale": POSITIVE}),
        ("LRSweep", lambda **kw: F.LRSweep(**{"start_lr": 1e-5, "end_lr": 1.0,
                                              "num_steps": 10, **kw}),
         {"start_lr": POSITIVE, "end_lr": POSITIVE, "num_steps": POSITIVE_INT,
          "mode": CHOICE, "first_step": NON_NEGATIVE_INT,
          "accumulation_steps": POSITIVE_INT}),
        ("schedule_values", lambda **kw: S.schedule_values(**{"schedule": S.OneCycle(0.1, 10),
                                                             "steps": 5, **kw}),
         {"schedule": ["x", None, object()], "steps": [0, -1, 2.5, "5", NAN]}),
        ("plot_schedule", lambda **kw: keras_lr.plot_schedule(
            **{"schedule": S.OneCycle(0.1, 10), "total_steps": 10, **kw}),
         {"schedule": ["x", None, object()], "total_steps": POSITIVE_INT,
          "log_scale": BOOL, "momentum": ["x", 3]}),
    ]


def _callbacks():
    x, y = _data()
    return [
        ("ReduceLROnPlateau", lambda **kw: C.ReduceLROnPlateau(**kw),
         {"monitor": [3, "", None], "factor": FRACTION + [0.0, 1.0],
          "patience": NON_NEGATIVE_INT, "verbose": [5, "yes"], "mode": CHOICE,
          "min_delta": NON_NEGATIVE, "cooldown": NON_NEGATIVE_INT, "min_lr": NON_NEGATIVE,
          "threshold_mode": CHOICE, "warmup": NON_NEGATIVE_INT,
          "smoothing": FRACTION + [1.0], "restore_best_weights": BOOL,
          "frequency": [0, -1, 2.5, "batch"], "patience_rule": CHOICE}),
        ("BoldDriver", lambda **kw: C.BoldDriver(**kw),
         {"monitor": [3, ""], "increase": NUMBER + [1.0, 0.5], "decrease": FRACTION + [1.0],
          "slow": NON_NEGATIVE, "patience": POSITIVE_INT, "min_lr": NON_NEGATIVE,
          "max_lr": OPTIONAL_POSITIVE, "mode": CHOICE, "warmup": NON_NEGATIVE_INT,
          "smoothing": FRACTION, "frequency": [0, 2.5, "batch"], "verbose": [5, "yes"]}),
        ("DivergenceGuard", lambda **kw: C.DivergenceGuard(**kw),
         {"threshold": NUMBER + [1.0, 0.5], "factor": FRACTION + [1.0],
          "smoothing": FRACTION, "snapshot_every": POSITIVE_INT,
          "max_recoveries": NON_NEGATIVE_INT, "min_lr": NON_NEGATIVE,
          "frequency": [0, 2.5, "epoch"], "verbose": [5, "yes"]}),
        ("LearningRateLogger", lambda **kw: C.LearningRateLogger(**kw),
         {"log_dir": [3, object()], "frequency": POSITIVE_INT}),
        ("LRFinder", lambda **kw: C.LRFinder(**kw),
         {"start_lr": POSITIVE, "end_lr": POSITIVE, "num_steps": POSITIVE_INT + [1],
          "mode": CHOICE, "smoothing": FRACTION, "diverge_threshold": NUMBER + [1.0],
          "validation_data": ["x", 3, (x,), (x, y, y, y)], "restore": BOOL,
          "verbose": [5, "yes"], "title": [3]}),
        ("PeriodicLRFinder", lambda **kw: C.PeriodicLRFinder(**{"x": x, "y": y, **kw}),
         {"x": [None, "x", iter([(x, y)])], "y": [y[:10]], "every": POSITIVE_INT,
          "num_steps": POSITIVE_INT + [5], "span": [(2.0, 3.0), (0.1,), "x", (NAN, 2.0)],
          "sample": [0, -1, 1.5, "x", 10**9], "batch_size": OPTIONAL_POSITIVE_INT,
          "repeats": POSITIVE_INT, "method": CHOICE, "max_factor": NUMBER + [1.0],
          "min_lr": NON_NEGATIVE, "max_lr": OPTIONAL_POSITIVE, "seed": [-1, 2.5, "x"],
          "verbose": [5, "yes"]}),
        ("ScheduleFreeEval", lambda **kw: C.ScheduleFreeEval(**kw),
         {"batchnorm_data": [3, "x"], "batchnorm_batches": POSITIVE_INT,
          "batch_size": POSITIVE_INT}),
    ]


def _optimizers():
    lr_free = {"learning_rate": [NAN, INF, -1.0, 1e39, "x", object()],
               "weight_decay": NON_NEGATIVE, "name": [3]}
    return [
        ("Prodigy", lambda **kw: O.Prodigy(**kw),
         dict(lr_free, beta_1=FRACTION + [1.0], beta_2=FRACTION + [1.0],
              beta_3=FRACTION + [1.0], epsilon=POSITIVE, decouple=BOOL,
              use_bias_correction=BOOL, safeguard_warmup=BOOL, d0=POSITIVE,
              d_coef=POSITIVE, growth_rate=[NAN, 1.0, 0.5, "x"],
              slice_p=POSITIVE_INT, clipnorm=[1.0], gradient_accumulation_steps=[2])),
        ("DAdaptAdam", lambda **kw: O.DAdaptAdam(**kw),
         dict(lr_free, beta_1=FRACTION, beta_2=FRACTION, epsilon=POSITIVE, decouple=BOOL,
              use_bias_correction=BOOL, d0=POSITIVE, growth_rate=[NAN, 1.0, "x"])),
        ("DoG", lambda **kw: O.DoG(**kw),
         dict(lr_free, reps_rel=POSITIVE, epsilon=NON_NEGATIVE,
              initial_step_size=OPTIONAL_POSITIVE)),
        ("DoWG", lambda **kw: O.DoWG(**kw),
         dict(lr_free, initial_squared_distance=OPTIONAL_POSITIVE, epsilon=POSITIVE)),
        ("ScheduleFreeAdamW", lambda **kw: O.ScheduleFreeAdamW(**kw),
         dict(lr_free, beta_1=FRACTION, beta_2=FRACTION, epsilon=POSITIVE,
              warmup_steps=NON_NEGATIVE_INT, r=NON_NEGATIVE, weight_lr_power=NON_NEGATIVE,
              decay_at_z=BOOL, use_ema=[True])),
        ("ScheduleFreeSGD", lambda **kw: O.ScheduleFreeSGD(**kw),
         dict(lr_free, momentum=FRACTION + [0.0, 1.0], warmup_steps=NON_NEGATIVE_INT,
              r=NON_NEGATIVE, weight_lr_power=NON_NEGATIVE)),
        ("LRMultiplier", lambda **kw: O.LRMultiplier(**{
            "optimizer": keras.optimizers.Adam(), "multipliers": {"body": 0.1}, **kw}),
         {"optimizer": OPTIMIZER, "multipliers": [[0.1], "x", {"body": -1.0},
                                                   {"body": NAN}, {3: 0.1}, {"(": 0.1}],
          "default_multiplier": [NAN, -1.0, "x", INF]}),
        ("ScheduledMomentum", lambda **kw: O.ScheduledMomentum(**{
            "optimizer": keras.optimizers.SGD(0.1, momentum=0.9),
            "momentum": S.OneCycleMomentum(100), **kw}),
         {"optimizer": OPTIMIZER + [keras.optimizers.SGD(0.1)],
          "momentum": [0.9, "x", None]}),
        ("Hypergradient", lambda **kw: O.Hypergradient(**{
            "optimizer": keras.optimizers.SGD(0.01), **kw}),
         {"optimizer": OPTIMIZER, "hypergradient_lr": OPTIONAL_POSITIVE,
          "min_lr": NON_NEGATIVE, "max_lr": OPTIONAL_POSITIVE, "rule": CHOICE,
          "warmup_steps": NON_NEGATIVE_INT, "warmup_start": POSITIVE}),
        ("Mechanic", lambda **kw: O.Mechanic(**{"optimizer": keras.optimizers.Adam(), **kw}),
         {"optimizer": OPTIMIZER + [O.Mechanic(keras.optimizers.Adam())],
          "weight_decay": NON_NEGATIVE, "epsilon": POSITIVE, "s_init": POSITIVE,
          "num_betas": POSITIVE_INT}),
        ("discriminative", lambda **kw: O.discriminative(**{
            "model": _model(), "lr_range": (1e-4, 1e-2), **kw}),
         {"model": [None, 3, "m"], "lr_range": [(1e-2, 1e-4), (NAN, 1.0), (0.0, 1.0), "x",
                                                 (1e-4,)],
          "groups": [0, -1, 2.5, "x", 99]}),
        ("layerwise_decay", lambda **kw: O.layerwise_decay(**{"model": _model(),
                                                             "decay": 0.5, **kw}),
         {"model": [None, 3], "decay": FRACTION + [0.0], "blocks": [3, ["nope"], "x"]}),
    ]


def _finder():
    lrs, losses = _curve()
    x, y = _data()
    suggestions = [(name, lambda fn=fn, **kw: fn(**{"learning_rates": lrs, "losses": losses,
                                                    **kw}),
                    {"learning_rates": [lrs[:5], "x", None], "losses": [losses[:5], "x", None]})
                   for name, fn in (("minimum", F.minimum), ("steep", F.steep),
                                    ("valley", F.valley), ("slide", F.slide))]
    result = keras_lr.LRFinderResult(lrs, losses)
    return suggestions + [
        ("find_lr", lambda **kw: keras_lr.find_lr(**{
            "model": _model(), "x": x, "y": y, "num_steps": 5, "repeats": 1, "verbose": 0,
            **kw}),
         {"model": [None, 3], "x": [None, "x"], "y": [y[:10]],
          "batch_size": OPTIONAL_POSITIVE_INT, "start_lr": POSITIVE, "end_lr": POSITIVE,
          "num_steps": POSITIVE_INT + [1], "mode": CHOICE, "smoothing": FRACTION,
          "diverge_threshold": NUMBER + [1.0], "sample": [0, -1, 1.5, "x", 10**9],
          "validation_data": ["x", 3, (x,)], "restore": BOOL, "repeats": POSITIVE_INT,
          "seed": [-1, 2.5, "x"], "verbose": [5, "yes"]}),
        ("LRFinderResult", lambda **kw: keras_lr.LRFinderResult(**{
            "learning_rates": lrs, "losses": losses, **kw}),
         {"learning_rates": [lrs[:5], "x"], "losses": [losses[:5], "x"],
          "stop_reason": [3, "bogus"]}),
        ("LRFinderResult.suggestion", lambda **kw: result.suggestion(**kw),
         {"method": ["bogus", 3, None]}),
        ("LRFinderResult.one_cycle", lambda **kw: result.one_cycle(**{"total_steps": 100,
                                                                      **kw}),
         {"total_steps": POSITIVE_INT}),
    ]


def _workflows():
    x, y = _data()
    return [
        ("fit_one_cycle", lambda **kw: keras_lr.fit_one_cycle(**{
            "model": _model(), "x": x, "y": y, "epochs": 1, "max_lr": 0.01, "verbose": 0,
            "batch_size": 8, **kw}),
         {"model": [None, 3], "epochs": POSITIVE_INT, "max_lr": RATE,
          "batch_size": OPTIONAL_POSITIVE_INT, "steps_per_epoch": [0, -1, 2.5, "x"],
          "validation_split": FRACTION + [1.0], "pct_start": FRACTION + [0.0, 1.0],
          "div_factor": POSITIVE, "final_div_factor": POSITIVE,
          "momentum": [(0.85, 0.95), (NAN, 0.9), 0.9, "x", (0.9,)],
          "multipliers": [[0.1], "x", {"nope": 0.1}], "find_lr_kwargs": [{"num_steps": 5}],
          "callbacks": [3, "x"], "verbose": [5, "yes"]}),
        ("fine_tune", lambda **kw: keras_lr.fine_tune(**{
            "model": _model(), "x": x, "y": y, "backbone": "body", "epochs": 1,
            "base_lr": 0.01, "verbose": 0, "groups": 2, "batch_size": 8, **kw}),
         {"model": [None, 3], "backbone": ["nope", 3, None], "epochs": POSITIVE_INT,
          "freeze_epochs": NON_NEGATIVE_INT, "base_lr": RATE, "lr_mult": NUMBER + [0.5],
          "groups": [1, 0, 2.5, "x", 99], "pct_start": FRACTION, "div_factor": POSITIVE,
          "find_lr_kwargs": [{"num_steps": 5}], "verbose": [5, "yes"],
          "callbacks": [[keras.callbacks.BackupAndRestore("/tmp/never")]]}),
        ("steps_per_epoch_of", lambda **kw: K.steps_per_epoch_of(**{"x": x, "y": y, **kw}),
         {"x": [None, iter([1, 2])], "batch_size": OPTIONAL_POSITIVE_INT,
          "steps_per_epoch": [0, -1, 2.5, "x"], "validation_split": FRACTION + [1.0]}),
        ("one_cycle_optimizer", lambda **kw: K.one_cycle_optimizer(**{
            "optimizer": keras.optimizers.Adam(), "schedule": S.OneCycle(0.1, 10), **kw}),
         {"optimizer": OPTIMIZER, "schedule": ["x", None],
          "momentum": [(0.85, 0.95), (NAN, 0.9), "x"], "multipliers": ["x", [1]]}),
        ("backbone_groups", lambda **kw: K.backbone_groups(**{
            "model": _model(), "backbone": "body", **kw}),
         {"model": [None, 3], "backbone": ["nope", 3], "groups": [1, 0, 2.5, "x", 99]}),
    ]


def _sweeps():
    x, y = _data()
    return [
        ("sweep", lambda **kw: keras_lr.sweep(**{
            "model": _model(), "x": x, "y": y, "learning_rates": [0.01, 0.1], "epochs": 1,
            "verbose": 0, **kw}),
         {"model": [None, 3], "x": [None, "x", 3], "y": [y[:10], "x"],
          "learning_rates": [[], [0.1, -1.0], [NAN], "0.1", 0.1, None, [[0.1]]],
          "epochs": POSITIVE_INT, "batch_size": POSITIVE_INT,
          "validation_data": ["x", 3, (x,)], "sample_weight": [np.ones(10), "x"],
          "schedule": ["x", 3], "seeds": [[1], "x", [1.5, 2]], "shuffle": BOOL,
          "shuffle_seed": [-1, 2.5, "x"], "divergence_threshold": NUMBER + [1.0],
          "smoothing": FRACTION, "memory_limit": [0, -1, "x", 2.5], "verbose": [5, "yes"]}),
        ("short_horizon_grid", lambda **kw: W.short_horizon_grid(**{
            "model": _model(), "x": x, "y": y, "learning_rates": [0.01, 0.1],
            "num_steps": 3, **kw}),
         {"model": [None, 3], "x": [None, "x"], "y": [y[:10], "x"],
          "learning_rates": [[], [-1.0], "x"], "num_steps": POSITIVE_INT,
          "batch_size": POSITIVE_INT, "validation_data": ["x", (x,)],
          "validation_fraction": FRACTION + [0.0, 1.0], "metric": ["nope", 3],
          "verbose": [5, "yes"]}),
        ("halving_grid", lambda **kw: W.halving_grid(**{
            "model": _model(), "x": x, "y": y, "learning_rates": [0.01, 0.1],
            "epochs": 1, **kw}),
         {"model": [None, 3], "x": [None, "x"], "y": [y[:10], "x"],
          "epochs": POSITIVE_INT, "learning_rates": [[], [-1.0], "x"],
          "batch_size": POSITIVE_INT, "validation_data": ["x", (x,)],
          "validation_fraction": FRACTION + [0.0, 1.0], "rungs": POSITIVE_INT,
          "keep": FRACTION + [0.0, 1.0], "metric": ["nope", "val_nope", 3],
          "shuffle": BOOL, "shuffle_seed": [-1, 2.5, "x"], "verbose": [5, "yes"]}),
        ("estimate_memory", lambda **kw: W.estimate_memory(**{"model": _model(),
                                                             "num_rates": 4, **kw}),
         {"model": [None, 3, "m"], "num_rates": POSITIVE_INT, "optimizer": [3, "adam"]}),
    ]


def _tuning():
    kt = pytest.importorskip("keras_tuner")  # noqa: F841
    from keras_lr import tuning as T

    def build(hp):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    return [
        ("LRHyperModel", lambda **kw: T.LRHyperModel(**{"build_model": build, "loss": "mse",
                                                        **kw}),
         {"build_model": [3, None], "optimizer": [3, None, "bogus"],
          "min_lr": POSITIVE, "max_lr": POSITIVE, "schedules": [3, "x", ("bogus",), ()],
          "optimizer_kwargs": [3, "x"], "compile_kwargs": [3, "x"],
          "divergence_factor": NUMBER + [1.0]}),
        ("DivergenceStop", lambda **kw: T.DivergenceStop(**kw),
         {"factor": NUMBER + [1.0], "verbose": [5, "yes"]}),
    ]


def _all():
    entries = []
    for group in (_schedules, _callbacks, _optimizers, _finder, _workflows, _sweeps):
        entries += group()
    return entries


def _cases():
    cases = []
    for name, call, arguments in _all():
        for argument, values in arguments.items():
            for value in values:
                cases.append(pytest.param(call, argument, value,
                                          id=f"{name}-{argument}={_short(value)}"))
    return cases


def _short(value):
    text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
    return text if len(text) < 30 else text[:27] + "..."


def _classify(call, argument, value):
    """`("clear" | "unclear" | "silent", detail)`."""
    try:
        call(**{argument: value})
    except (ValueError, TypeError) as e:
        message = str(e)
        if argument in message or argument.split("_")[0] in message:
            return "clear", message
        return "unclear", f"{type(e).__name__}: {message}"
    except Exception as e:  # noqa: BLE001 - what the user would see
        return "unclear", f"{type(e).__name__}: {e}"
    return "silent", "accepted"


@pytest.mark.parametrize("call, argument, value", _cases())
def test_bad_input_gets_a_clear_error(call, argument, value):
    verdict, detail = _classify(call, argument, value)
    assert verdict == "clear", f"{verdict}: {argument}={_short(value)}: {detail[:400]}"


def test_tuning_signatures_get_clear_errors(fresh_session):
    verdicts = []
    for name, call, arguments in _tuning():
        for argument, values in arguments.items():
            for value in values:
                verdict, detail = _classify(call, argument, value)
                if verdict != "clear":
                    verdicts.append(f"{name}({argument}={_short(value)}): {verdict}: "
                                    f"{detail[:200]}")
    assert not verdicts, "\n".join(verdicts)


def test_the_fuzz_covers_every_public_signature():
    covered = {name.split(".")[0] for name, _, _ in _all()} | {n for n, _, _ in _tuning()}
    public = set()
    for module in (keras_lr.schedules, keras_lr.callbacks, keras_lr.optimizers,
                   keras_lr.finder, keras_lr.sweeps, keras_lr.workflows):
        public |= {n for n in module.__all__ if callable(getattr(module, n))}
    public |= {"find_lr", "fit_one_cycle", "fine_tune", "sweep", "plot_schedule",
               "LRFinderResult"}
    # Not user input: an exception class, the snapshot the finder returns,
    # the result classes built by keras-lr itself.
    public -= {"UnreliableCurveError", "TrainingState", "SweepResult"}
    assert public <= covered, sorted(public - covered)


def test_nan_is_never_silent_for_a_number_argument():
    # A guard for the guard: the classification itself.
    assert _classify(lambda **kw: None, "x", NAN)[0] == "silent"
    assert _classify(lambda **kw: (_ for _ in ()).throw(ValueError("Argument `x` must")),
                     "x", NAN)[0] == "clear"
    assert math.isnan(NAN)
