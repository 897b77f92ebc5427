"""`LRHyperModel` and `DivergenceStop` with real training on the digits."""

import importlib
import importlib.metadata
import math
import re

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_lr
from keras_lr.tuning import CoarseToFine
from keras_lr.tuning import DivergenceStop
from keras_lr.tuning import LRHyperModel
from keras_lr.tuning import best_hyperparameters
from keras_lr.tuning import failed_trials
from keras_lr.tuning.hypermodel import steps_per_epoch
from tests.conftest import BACKEND
from tests.digits import load_digits

N = 480  # samples: 15 steps of 32


@pytest.fixture(scope="module")
def data():
    x, y = load_digits()
    return x[:N], y[:N], x[N:N + 200], y[N:N + 200]


def build_model(hp):
    return keras.Sequential([keras.Input((64,)),
                             keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10)])


def hypermodel(**kwargs):
    kwargs.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    kwargs.setdefault("metrics", ["accuracy"])
    return LRHyperModel(build_model, **kwargs)


def hyperparameters(learning_rate, schedule=None):
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", learning_rate)
    if schedule is not None:
        hp.Fixed("schedule", schedule)
    return hp


class StepCounter(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


@pytest.mark.parametrize("fit_args, fit_kwargs, expected", [
    ((np.zeros((100, 3)), np.zeros(100)), {}, 4),
    ((np.zeros((100, 3)), np.zeros(100), 10), {}, 10),
    ((np.zeros((100, 3)),), {"batch_size": 64}, 2),
    ((np.zeros((100, 3)),), {"batch_size": 10, "validation_split": 0.25}, 8),
    ((), {"x": {"a": np.zeros((70, 3))}, "batch_size": 7}, 10),
    ((np.zeros((100, 3)),), {"steps_per_epoch": 6}, 6),
    # Keras keeps floor(1001 * 0.8) = 800 rows for training: 25 batches of 32
    # (the tuner once counted ceil(800.8) = 801 rows, 26 batches).
    ((np.zeros((1001, 3)), np.zeros(1001)), {"validation_split": 0.2, "batch_size": 32}, 25),
])
def test_steps_per_epoch_matches_what_fit_runs(fit_args, fit_kwargs, expected):
    assert steps_per_epoch(fit_args, fit_kwargs) == expected


@pytest.mark.tensorflow_only
def test_steps_per_epoch_of_datasets():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((100, 3))).batch(30)
    assert steps_per_epoch((dataset,), {}) == 4
    with pytest.raises(ValueError, match="unknown or infinite.*steps_per_epoch"):
        steps_per_epoch((dataset.repeat(),), {})


@pytest.mark.parametrize("schedule, epochs, initial_epoch", [
    ("one_cycle", 2, 0), ("cosine", 3, 1),
])
def test_schedules_are_sized_from_the_trials_real_steps(data, schedule, epochs, initial_epoch):
    x, y, _, _ = data
    model_ = hypermodel()
    hp = hyperparameters(0.01, schedule)
    model = model_.build(hp)
    model_.fit(hp, model, x, y, batch_size=32, epochs=epochs,
               initial_epoch=initial_epoch, verbose=0)
    total = (epochs - initial_epoch) * math.ceil(N / 32)  # Hyperband's budget too
    lr_schedule = model.optimizer._learning_rate
    if schedule == "one_cycle":
        assert isinstance(lr_schedule, keras_lr.schedules.OneCycle)
        assert lr_schedule.total_steps == total
        assert lr_schedule.max_learning_rate == pytest.approx(0.01)
    else:
        assert isinstance(lr_schedule, keras.optimizers.schedules.CosineDecay)
        assert lr_schedule.decay_steps == total
    # The schedule ran to its end: the optimizer's last LR is the final one.
    assert int(model.optimizer.iterations) == total
    assert float(model.optimizer.learning_rate) == pytest.approx(
        float(lr_schedule(total)), rel=1e-5)


def test_constant_schedule_and_optimizer_settings_reach_the_optimizer(data):
    x, y, _, _ = data
    model_ = hypermodel(optimizer="sgd", schedules=("constant",),
                        optimizer_kwargs={"momentum": 0.9},
                        tune_optimizer=lambda hp: {"nesterov": hp.Boolean("nesterov")})
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", 0.03)
    hp.Fixed("nesterov", True)
    model = model_.build(hp)
    assert "schedule" not in hp.values  # one schedule: not a hyperparameter
    model_.fit(hp, model, x, y, epochs=1, verbose=0)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.learning_rate) == pytest.approx(0.03)
    assert optimizer.momentum == 0.9 and optimizer.nesterov is True


def test_a_diverging_trial_is_stopped_within_its_first_steps(data):
    x, y, _, _ = data
    model_ = hypermodel(optimizer="sgd", schedules=("constant",))
    hp = hyperparameters(300.0)
    model = model_.build(hp)
    counter = StepCounter()
    with pytest.raises(kt.errors.FailedTrialError, match="Diverged: the training loss"):
        model_.fit(hp, model, x, y, epochs=5, verbose=0, callbacks=[counter])
    assert counter.steps <= 3  # of 75


def test_divergence_stop_reads_batch_losses_not_the_running_mean():
    # The running mean of [1, 1, 1, 9] is 3 (< 4 x 1), the last batch's loss 9.
    stop = DivergenceStop(factor=4.0, verbose=0)
    stop.set_params({"epochs": 1, "steps": 6, "verbose": 0})  # as `fit` sets them
    stop.on_train_begin()
    stop.on_epoch_begin(0)
    for batch, mean in enumerate([1.0, 1.0, 1.0]):
        stop.on_train_batch_end(batch, {"loss": mean})
    with pytest.raises(kt.errors.FailedTrialError, match=r"9 at step 4 is above 4 x its first value 1\b"):
        stop.on_train_batch_end(3, {"loss": 3.0})
    # With steps_per_execution = 2 the hook sees every other batch.
    stop.on_train_begin()
    stop.on_epoch_begin(0)
    stop.on_train_batch_end(1, {"loss": 2.0})   # batches 0-1: mean 2
    stop.on_train_batch_end(3, {"loss": 2.0})   # batches 2-3: mean 2
    with pytest.raises(kt.errors.FailedTrialError, match="11 at step 6"):
        stop.on_train_batch_end(5, {"loss": 5.0})  # batches 4-5: (30 - 8) / 2 = 11
    stop.on_train_begin()
    stop.on_epoch_begin(0)
    with pytest.raises(kt.errors.FailedTrialError, match="became nan at step 1"):
        stop.on_train_batch_end(0, {"loss": float("nan")})


def test_a_diverging_trial_fails_and_the_search_goes_on(data, tmp_path):
    x, y, xv, yv = data
    tuner = CoarseToFine(hypermodel(optimizer="sgd", min_lr=1e-2, max_lr=1e3,
                                    schedules=("constant",)),
                         objective="val_accuracy", max_trials=6, directory=str(tmp_path))
    tuner.search(x, y, validation_data=(xv, yv), epochs=2, verbose=0)
    failed = failed_trials(tuner)
    assert {round(math.log10(f["values"]["learning_rate"])) for f in failed} >= {3}
    assert all(re.search("Diverged: the training loss", f["reason"]) for f in failed)
    assert len(tuner.oracle.trials) == 6
    best = best_hyperparameters(tuner)[0]["learning_rate"]
    assert 1e-2 <= best <= 10.0
    assert best not in [f["values"]["learning_rate"] for f in failed]


@pytest.mark.parametrize("tuner_cls", ["RandomSearch", "BayesianOptimization", "Hyperband"])
def test_works_with_keras_tuners_own_tuners(data, tmp_path, tuner_cls):
    x, y, xv, yv = data
    model_ = hypermodel(min_lr=1e-4, max_lr=1e-1)
    kwargs = dict(max_epochs=3, factor=3) if tuner_cls == "Hyperband" else dict(max_trials=3)
    tuner = getattr(kt, tuner_cls)(model_, objective="val_accuracy", directory=str(tmp_path),
                                   seed=1, max_consecutive_failed_trials=10, **kwargs)
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert trials and all(t.status == "COMPLETED" for t in trials)
    lrs = [t.hyperparameters["learning_rate"] for t in trials]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    best = best_hyperparameters(tuner)[0]
    assert best["schedule"] in ("constant", "one_cycle", "cosine")
    model = tuner.get_best_models()[0]
    assert model.evaluate(xv, yv, verbose=0)[1] > 0.1


def test_a_trained_trial_model_saves_and_loads_with_its_schedule(data, tmp_path):
    x, y, _, _ = data
    model_ = hypermodel()
    hp = hyperparameters(0.01, "one_cycle")
    model = model_.build(hp)
    model_.fit(hp, model, x, y, epochs=1, verbose=0)
    path = str(tmp_path / "trial.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, keras_lr.schedules.OneCycle)
    assert schedule.get_config() == model.optimizer._learning_rate.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate),
                               float(model.optimizer.learning_rate))


def test_divergence_stop_round_trips_its_config():
    stop = DivergenceStop(factor=3.0, verbose=0)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stop))
    assert isinstance(again, DivergenceStop) and again.get_config() == stop.get_config()


def test_keras_lr_installs_tensorboard_which_keras_tuner_imports_in_every_trial():
    # keras-tuner 1.4.8 imports tensorboard.plugins.hparams in every trial on
    # the TensorFlow backend, and tensorflow-cpu does not install it.
    requires = importlib.metadata.requires("keras-lr") or []
    assert any(re.match(r"tensorboard\b", r) and "extra ==" not in r for r in requires)
    if BACKEND == "tensorflow":
        assert importlib.import_module("tensorboard.plugins.hparams.api").KerasCallback


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(optimizer=keras.optimizers.Adam()), TypeError, "not an instance"),
    (dict(optimizer="adamm"), ValueError, "adamm"),
    (dict(loss=None), ValueError, "Argument `loss` is required"),
    (dict(min_lr=0), ValueError, "Argument `min_lr` must be > 0"),
    (dict(min_lr=1e-2, max_lr=1e-3), ValueError, "Argument `max_lr` must be > min_lr"),
    (dict(schedules=("constant", "linear")), ValueError, "Argument `schedules` must be one of"),
    (dict(schedules=()), ValueError, "must name at least one"),
    (dict(optimizer_kwargs={"learning_rate": 1.0}), ValueError, "must not set `learning_rate`"),
    (dict(compile_kwargs={"loss": "mse"}), ValueError, "must not hold `loss`"),
    (dict(divergence_factor=0.5), ValueError, "Argument `divergence_factor` must be > 1"),
    (dict(tune_optimizer={"beta_1": 0.9}), TypeError, "tune_optimizer"),
])
def test_invalid_arguments_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        hypermodel(**kwargs)


def test_a_compiled_model_from_build_model_is_rejected():
    def compiled(hp):
        model = build_model(hp)
        model.compile(optimizer="sgd", loss="mse")
        return model

    model_ = LRHyperModel(compiled, loss="mse")
    with pytest.raises(ValueError, match="must return an uncompiled model"):
        model_.build(hyperparameters(0.1, "constant"))


@pytest.mark.tensorflow_only
def test_coarse_to_fine_trials_run_under_mirrored_strategy(data, tmp_path, mirrored_strategy):
    x, y, xv, yv = data
    tuner = CoarseToFine(hypermodel(min_lr=1e-2, max_lr=1e-1, schedules=("one_cycle",)),
                         objective="val_accuracy", max_trials=3, directory=str(tmp_path),
                         distribution_strategy=mirrored_strategy)
    models = []

    class Keep(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            models.append(self.model)

    tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0, callbacks=[Keep()])
    assert len(tuner.oracle.trials) == 3
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    for model in models:
        assert model.distribute_strategy is mirrored_strategy
        assert model.optimizer._learning_rate.total_steps == math.ceil(N / 32)


def test_coarse_to_fine_takes_the_default_hypermodel_at_a_constant_rate(data, tmp_path,
                                                                         capsys):
    # The two classes compose at their defaults: CoarseToFine searches the rate
    # only, so the default three schedules become "constant" (said), on a copy.
    x, y, xv, yv = data
    given = hypermodel(min_lr=1e-2, max_lr=1e-1)
    assert list(given.schedules) == ["constant", "one_cycle", "cosine"]
    tuner = CoarseToFine(given, objective="val_accuracy", max_trials=3,
                         directory=str(tmp_path))
    assert "default schedules narrowed to ('constant',)" in capsys.readouterr().out
    assert list(given.schedules) == ["constant", "one_cycle", "cosine"]  # theirs kept
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    assert all("schedule" not in t.hyperparameters.values
               for t in tuner.oracle.trials.values())
    assert all(1e-2 <= t.hyperparameters.values["learning_rate"] <= 1e-1  # its bounds kept
               for t in tuner.oracle.trials.values())
    # Named schedules are the user's choice: several are still refused.
    with pytest.raises(ValueError, match=r"also declares `schedule` \(Choice\)"):
        CoarseToFine(hypermodel(schedules=("constant", "one_cycle")), max_trials=8,
                     directory=str(tmp_path / "named"))
    # keras-tuner's own tuners still choose among the three.
    random = kt.RandomSearch(hypermodel(), objective="val_loss", max_trials=1,
                             directory=str(tmp_path / "random"))
    assert random.oracle.hyperparameters.get("schedule") == "constant"
    (choice,) = [hp for hp in random.oracle.hyperparameters.space if hp.name == "schedule"]
    assert choice.values == ["constant", "one_cycle", "cosine"]


def test_import_keras_lr_does_not_import_keras_tuner():
    import subprocess
    import sys

    code = ("import sys, keras_lr; assert 'keras_tuner' not in sys.modules; "
            "from keras_lr import tuning; assert 'keras_tuner' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# ---- clear errors (issue 14) ---------------------------------------------------

def test_a_nan_validation_loss_fails_the_trial_with_its_reason(data):
    x, y, x_val, y_val = data
    model_ = hypermodel(optimizer="sgd", schedules=("constant",))
    hp = hyperparameters(0.01)
    model = model_.build(hp)
    y_val = y_val.copy()
    weights = np.ones(len(y_val), "float32")
    weights[0] = np.nan  # a NaN validation loss; the training loss stays finite
    with pytest.raises(kt.errors.FailedTrialError, match="`val_loss` became nan at epoch 1"):
        model_.fit(hp, model, x, y, epochs=1, verbose=0,
                   validation_data=(x_val, y_val, weights))


def test_one_cycle_on_a_trial_too_short_for_it_says_so(data):
    x, y, _, _ = data
    model_ = hypermodel(schedules=("one_cycle",))
    hp = hyperparameters(0.01, "one_cycle")
    model = model_.build(hp)
    with pytest.raises(ValueError, match=r"'one_cycle' schedule cannot be sized to this "
                                         r"trial's 2 training steps .*leave 'one_cycle' out"):
        model_.fit(hp, model, x[:64], y[:64], epochs=1, batch_size=32, verbose=0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(optimizer_kwargs=[1]), TypeError, "`optimizer_kwargs` must be a dict"),
    (dict(compile_kwargs="x"), TypeError, "`compile_kwargs` must be a dict"),
    (dict(schedules=3), TypeError, "`schedules` must be a name, a list of names"),
    (dict(min_lr="1e-3"), ValueError, "`min_lr` must be a finite number"),
])
def test_hypermodel_argument_types(kwargs, error, match):
    with pytest.raises(error, match=match):
        hypermodel(**kwargs)


def test_finder_result_outside_the_search_bounds_names_the_argument(tmp_path):
    lrs = np.geomspace(1e-2, 100, 100)
    losses = np.concatenate([np.linspace(2, 0.5, 80), np.linspace(0.5, 5, 20)])
    result = keras_lr.LRFinderResult(lrs, losses, config={"smoothing": 0.0})
    with pytest.raises(ValueError, match=r"Argument `finder_result` suggests the range .* "
                                         r"must lie inside the search bounds \(1e-05, 0.01\)"):
        CoarseToFine(hypermodel(min_lr=1e-5, max_lr=1e-2), finder_result=result,
                     max_trials=5, directory=str(tmp_path), overwrite=True)
    with pytest.raises(TypeError, match="`finder_result` must be a `keras_lr.LRFinderResult`"):
        CoarseToFine(hypermodel(), finder_result="x", directory=str(tmp_path))
