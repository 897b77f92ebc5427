"""`keras_lr.fit_one_cycle`: the cycle is exactly as long as the `fit`."""

import math
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from tests import references

N = 100


def _data(n=N):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32"))


def _model(optimizer=None):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(momentum=0.9), loss="mse",
                  metrics=["mae"])
    return model


class _AppliedRates(keras.callbacks.Callback):
    """The learning rate and momentum each step used, read from the
    optimizer's own schedule at its step counter before the step."""

    def on_train_begin(self, logs=None):
        self.steps, self.rates = [], []

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.steps.append(step)
        self.rates.append(float(keras_lr._core.learning_rate.LearningRate(
            self.model.optimizer).value_at(step)))


@pytest.mark.parametrize("batch_size,split", [(None, 0.2), (7, 0.0), (16, 0.3), (50, 0.1)])
def test_sized_for_arrays(fresh_session, batch_size, split):
    x, y = _data()
    model = _model()
    seen = _AppliedRates()
    history = keras_lr.fit_one_cycle(model, x, y, epochs=3, max_lr=0.05,
                                     batch_size=batch_size, validation_split=split,
                                     callbacks=[seen], verbose=0)
    n_train = int(math.floor(N * (1 - split)))  # Keras's split
    steps = math.ceil(n_train / (batch_size or 32))
    assert history.schedule.total_steps == 3 * steps
    assert seen.steps == list(range(3 * steps))  # no step past the end
    # The last step trains at the schedule's final value, by the formula.
    final = 0.05 / 1e5  # fastai's lr_max / div_final
    np.testing.assert_allclose(seen.rates[-1], final, rtol=1e-5)
    expected = [references.torch_one_cycle(s, 0.05, 3 * steps, pct_start=0.25,
                                           final_div_factor=4e3)[0] for s in seen.steps]
    np.testing.assert_allclose(seen.rates, expected, rtol=1e-5)
    assert "val_loss" in history.history if split else "val_loss" not in history.history


def test_sized_for_tf_data_and_pydataset(fresh_session):
    tf = pytest.importorskip("tensorflow")  # tf.data, TensorBoard event files

    x, y = _data()
    seen = _AppliedRates()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(9)  # 12 batches
    history = keras_lr.fit_one_cycle(_model(), ds, epochs=2, max_lr=0.05,
                                     callbacks=[seen], verbose=0)
    assert history.schedule.total_steps == 24 and seen.steps == list(range(24))

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 20:(i + 1) * 20], y[i * 20:(i + 1) * 20]

    history = keras_lr.fit_one_cycle(_model(), Batches(), epochs=2, max_lr=0.05,
                                     callbacks=[seen], verbose=0)
    assert history.schedule.total_steps == 10 and seen.steps == list(range(10))


def test_steps_per_epoch_and_unknown_cardinality(fresh_session):
    tf = pytest.importorskip("tensorflow")  # tf.data, TensorBoard event files

    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(10).filter(lambda a, b: True)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        keras_lr.fit_one_cycle(_model(), ds, epochs=1, max_lr=0.05, verbose=0)
    seen = _AppliedRates()
    history = keras_lr.fit_one_cycle(_model(), ds.repeat(), epochs=2, max_lr=0.05,
                                     steps_per_epoch=4, callbacks=[seen], verbose=0)
    assert history.schedule.total_steps == 8 and seen.steps == list(range(8))


def test_momentum_cycles_in_the_compiled_step(fresh_session):
    x, y = _data()
    for optimizer, key in [(keras.optimizers.SGD(momentum=0.9), "momentum"),
                           (keras.optimizers.Adam(), "beta_1")]:
        logger = keras_lr.callbacks.LearningRateLogger()
        history = keras_lr.fit_one_cycle(_model(optimizer), x, y, epochs=2, max_lr=0.01,
                                         batch_size=20, callbacks=[logger], verbose=0)
        momentum = history.schedule.momentum_schedule(0.85, 0.95)
        np.testing.assert_allclose(
            logger.history[key],
            keras_lr.schedules.schedule_values(momentum, history.schedule.total_steps),
            rtol=1e-6)
    logger = keras_lr.callbacks.LearningRateLogger()
    keras_lr.fit_one_cycle(_model(keras.optimizers.Adam(beta_1=0.5)), x, y, epochs=2,
                           max_lr=0.01, momentum=None, callbacks=[logger], verbose=0)
    assert set(logger.history["beta_1"]) == {0.5}


def test_keeps_the_optimizer_settings_and_compile_arguments(fresh_session):
    x, y = _data()
    model = _model(keras.optimizers.AdamW(weight_decay=0.01, epsilon=1e-5, clipnorm=1.0))
    # (Keras's PyTorch backend refuses steps_per_execution > 1.)
    spe = 1 if keras.backend.backend() == "torch" else 2
    model.compile(optimizer=model.optimizer, loss="mae", metrics=["mse"],
                  steps_per_execution=spe)
    user_optimizer = model.optimizer
    history = keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.01, verbose=0)
    inner = keras_lr._core.learning_rate.innermost_optimizer(model.optimizer)
    assert isinstance(inner, keras.optimizers.AdamW) and inner is not user_optimizer
    assert (inner.weight_decay, inner.epsilon, inner.clipnorm) == (0.01, 1e-5, 1.0)
    assert model.steps_per_execution == spe and "mse" in history.history
    assert model.loss == "mae"
    assert int(np.asarray(user_optimizer.iterations)) == 0  # the user's object is untouched


def test_max_lr_from_a_finder_result_or_none(fresh_session):
    x, y = _data()
    model = _model()
    result = keras_lr.find_lr(model, x, y, num_steps=60, repeats=1, verbose=0)
    history = keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=result, verbose=0)
    low, high = result.suggest_range()
    assert history.schedule.get_config() == result.one_cycle(
        history.schedule.total_steps, pct_start=0.25, final_div_factor=4e3).get_config()
    np.testing.assert_allclose(history.schedule.initial_learning_rate, low, rtol=1e-9)
    history = keras_lr.fit_one_cycle(_model(), x, y, epochs=2, verbose=0,
                                     find_lr_kwargs={"num_steps": 60, "repeats": 1})
    assert isinstance(history.finder_result, keras_lr.LRFinderResult)
    assert history.schedule.max_learning_rate == history.finder_result.suggest_range()[1]


def test_resumes_with_backup_and_restore(fresh_session, tmp_path):
    x, y = _data()

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("crash")

    def run(model, extra):
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        return keras_lr.fit_one_cycle(model, x, y, epochs=4, max_lr=0.05, batch_size=20,
                                      shuffle=False, callbacks=[backup, *extra], verbose=0)

    keras.utils.set_random_seed(1)
    whole = _model()
    run(whole, [])
    keras.utils.set_random_seed(1)
    crashed = _model()
    with pytest.raises(RuntimeError):
        run(crashed, [Crash()])
    seen = _AppliedRates()
    run(crashed, [seen])
    assert seen.steps[0] == 10  # resumed at epoch 2 of 5-step epochs
    for a, b in zip(whole.weights, crashed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_warns_once_when_a_fit_runs_past_the_schedule(fresh_session):
    x, y = _data()
    model = _model(keras.optimizers.SGD(keras_lr.schedules.OneCycle(0.05, total_steps=6)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=20, epochs=2, verbose=0,
                  callbacks=[keras_lr.callbacks.LearningRateLogger()])
        model.fit(x, y, batch_size=20, epochs=2, verbose=0,
                  callbacks=[keras_lr.callbacks.LearningRateLogger()])
    messages = [str(w.message) for w in caught if "schedule ends" in str(w.message)]
    assert len(messages) == 1
    assert "ends at step 5, but this `fit` runs to step 9" in messages[0]
    # Sized right: no warning.
    model = _model(keras.optimizers.SGD(
        keras_lr.schedules.OneCycle(0.05, epochs=2, steps_per_epoch=5)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=20, epochs=2, verbose=0,
                  callbacks=[keras_lr.callbacks.ReduceLROnPlateau(patience=5)])
    assert not [w for w in caught if "schedule ends" in str(w.message)]


def test_errors(fresh_session):
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled model"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1)
    model = _model()
    with pytest.raises(ValueError, match="Argument `epochs` must be"):
        keras_lr.fit_one_cycle(model, x, y, epochs=0, max_lr=0.1)
    with pytest.raises(ValueError, match="Argument `max_lr` must be > 0"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=-1.0)
    with pytest.raises(ValueError, match="initial_epoch"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1, initial_epoch=1)
    with pytest.raises(ValueError, match="find_lr_kwargs"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1, find_lr_kwargs={})
    with pytest.raises(ValueError, match="Argument `momentum`"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1, momentum=(0.8, 0.9))
    with pytest.raises(TypeError, match="unexpected keyword"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1, batchsize=3)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        keras_lr.fit_one_cycle(model, ((a, b) for a, b in zip(x, y)), epochs=2, max_lr=0.1)
    hyper = keras_lr.optimizers.Hypergradient(keras.optimizers.SGD(0.01))
    model.compile(optimizer=hyper, loss="mse")
    with pytest.raises(ValueError, match="learns the learning rate"):
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.1)


def test_one_cycle_epochs_form():
    a = keras_lr.schedules.OneCycle(0.1, epochs=3, steps_per_epoch=7)
    assert a.total_steps == 21
    assert keras_lr.schedules.OneCycle(0.1, 21, epochs=3, steps_per_epoch=7).total_steps == 21
    with pytest.raises(ValueError, match="must equal `epochs \\* steps_per_epoch`"):
        keras_lr.schedules.OneCycle(0.1, 20, epochs=3, steps_per_epoch=7)
    with pytest.raises(ValueError, match="go together"):
        keras_lr.schedules.OneCycle(0.1, epochs=3)
    with pytest.raises(ValueError, match="`total_steps` is required"):
        keras_lr.schedules.OneCycle(0.1)
    with pytest.raises(ValueError, match="Argument `steps_per_epoch` must be"):
        keras_lr.schedules.OneCycleMomentum(epochs=3, steps_per_epoch=0)


def test_mixed_precision_and_multipliers_are_kept(fresh_session):
    x, y = _data()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="body"),
                                  keras.layers.Dense(1, name="head", dtype="float32")])
        model.compile(keras_lr.optimizers.LRMultiplier(keras.optimizers.Adam(), {"body": 0.1}),
                      loss="mse")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        keras_lr.fit_one_cycle(model, x, y, epochs=2, max_lr=0.01, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    outer = model.optimizer
    assert isinstance(outer, keras.optimizers.LossScaleOptimizer)  # compile wrapped it again
    multiplier = outer.inner_optimizer.inner_optimizer
    assert isinstance(outer.inner_optimizer, keras_lr.optimizers.ScheduledMomentum)
    assert multiplier.multipliers == {"body": 0.1}
    # The loss scale skips the first steps (their float16 gradients overflow):
    # the schedule follows the steps applied.
    assert 0 < int(outer.iterations.numpy()) <= 8


def test_it_says_what_it_chose(capsys):
    x = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    keras_lr.fit_one_cycle(model, x, y, epochs=3, max_lr=0.1, batch_size=50, div_factor=10,
                           verbose=2)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("fit_one_cycle:"))
    # 3 epochs of ceil(200 / 50) steps; from 0.1 / 10, down to 0.01 / 4e3.
    assert line == ("fit_one_cycle: 3 epochs x 4 steps = 12 steps; max_lr 0.1 (given), from "
                    "0.01 up for 25% of the steps, then down to 2.5e-06; momentum 0.95 -> "
                    "0.85 and back.")


@pytest.mark.parametrize("kwargs, match", [
    ({"max_lr": slice(1e-4, 1e-2)}, r"max_lr=high.*discriminative"),
    ({"lr_max": 1e-2}, r"`lr_max`: fastai's `lr_max` is `max_lr` here"),
    ({"max_lr": 1e-2, "moms": (0.95, 0.85)}, r"`moms` is `momentum`"),
    ({"max_lr": 1e-2, "shufle": True}, r"`shufle`: it is neither one of its own"),
])
def test_fastai_habits_and_typos_are_pointed_to_their_names(kwargs, match):
    # Before anything trains (no range test runs: it would take a while).
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(TypeError, match=match):
        keras_lr.fit_one_cycle(model, np.zeros((64, 4)), np.zeros((64, 1)), epochs=1,
                               verbose=0, **kwargs)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
