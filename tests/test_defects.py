"""The silent defects of issue 24, each as the test that failed on main
9451b6d (the contract suite, `tests/contracts/`, asks the general
question; these pin the reported cases)."""

import os
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr import callbacks as C
from keras_lr import optimizers as O
from keras_lr import schedules as S
from tests.conftest import BACKEND


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("crash")


def _regression(rows=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8)).astype("float32")
    return x, (x @ rng.normal(size=(8, 1))).astype("float32")


def _mlp(optimizer, seed=0, hidden=16):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def _rate(model):
    from keras_lr._core.learning_rate import LearningRate

    return LearningRate(model.optimizer).current(model)


def test_a_plateau_on_a_one_cycle_keeps_its_reductions_across_a_resume(tmp_path,
                                                                          fresh_session):
    # The case: SGD(OneCycle(0.05, 40)), plateau before BackupAndRestore,
    # a crash at epoch 8: the resumed rate was 4.6e-2 where the run that never
    # stopped had 5.8e-3.
    x, y = _regression(64)

    def make(seed=0):
        return _mlp(keras.optimizers.SGD(S.OneCycle(0.05, 40)), seed)

    def callbacks(backup):
        plateau = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=10)
        return [plateau, keras.callbacks.BackupAndRestore(backup)]

    whole = make()
    whole.fit(x, y, batch_size=16, epochs=10, verbose=0, shuffle=False,
              callbacks=callbacks(str(tmp_path / "w")))
    backup = str(tmp_path / "b")
    with pytest.raises(RuntimeError, match="crash"):
        make().fit(x, y, batch_size=16, epochs=10, verbose=0, shuffle=False,
                   callbacks=callbacks(backup) + [_Crash(7)])
    resumed = make(seed=1)
    resumed.fit(x, y, batch_size=16, epochs=10, verbose=0, shuffle=False,
                callbacks=callbacks(backup))
    assert _rate(resumed) == pytest.approx(_rate(whole), rel=1e-6)
    from keras_lr._core.keras_private import learning_rate_slot

    scale = learning_rate_slot(whole.optimizer).scale  # reduced: the test is not trivial
    assert float(keras.ops.convert_to_numpy(scale)) < 0.5


def test_the_guard_acts_on_nan_weights_behind_a_finite_loss(fresh_session):
    # The case: one `inf` row, Dense-ReLU-Dense, SGD: the weights went
    # NaN, the loss stayed finite (about 10) and the guard never acted.
    x, y = _regression()
    x[100] = np.inf
    model = _mlp(keras.optimizers.SGD(0.01))
    guard = C.DivergenceGuard(frequency=4, verbose=0)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False, callbacks=[guard])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    # Where ReLU maps inf to 0 (oneDNN) the loss stays finite and the weights
    # tell; elsewhere the loss is NaN too.
    assert guard.events and ("weights are not" in guard.events[0]["reason"]
                             or "loss is nan" in guard.events[0]["reason"])


@pytest.mark.skipif(BACKEND == "torch", reason="gradient accumulation under torch's eager "
                    "step is the same code; kept to two backends for time")
def test_the_finder_under_accumulation_moves_once_per_update(fresh_session):
    # The sweep's rate moved every micro-batch while the weights moved every
    # 4 batches; the answer came out 0.48 decades high.
    x, y = _regression(512)
    model = _mlp(keras.optimizers.Adam(gradient_accumulation_steps=4))
    result = keras_lr.find_lr(model, x, y, batch_size=16, num_steps=40, repeats=1, seed=0,
                              verbose=0)
    assert len(result) == 40 or result.stop_reason in ("diverged", "nan")
    reference = keras_lr.finder.LRSweep(1e-7, 10.0, 40).values(np.arange(len(result)))
    np.testing.assert_allclose(result.learning_rates, reference, rtol=1e-6)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0  # restored


def test_find_lr_takes_validation_data_with_sample_weights(fresh_session):
    x, y = _regression()
    model = _mlp(keras.optimizers.SGD(0.01))
    result = keras_lr.find_lr(model, x, y, num_steps=12, repeats=1, verbose=0,
                              validation_data=(x[:64], y[:64], np.ones(64, "float32")))
    assert len(result.validation_losses) == len(result)


def test_the_logger_logs_every_step_of_an_execution(fresh_session):
    if BACKEND == "torch":
        pytest.skip("Keras's PyTorch backend runs one step per execution")
    x, y = _regression(128)
    model = _mlp(keras.optimizers.SGD(S.OneCycle(0.05, 32)))
    model.compile(model.optimizer, "mse", steps_per_execution=4)
    logger = C.LearningRateLogger()
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[logger])
    assert logger.history["step"] == list(range(32))  # once 8 values, one per execution
    np.testing.assert_allclose(logger.history["learning_rate"],
                               [float(S.OneCycle(0.05, 32)(s)) for s in range(32)], rtol=1e-5)


def test_the_logger_logs_schedule_free_warmup(fresh_session):
    x, y = _regression(128)
    model = _mlp(O.ScheduleFreeAdamW(0.01, warmup_steps=16))
    logger = C.LearningRateLogger()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[logger])
    expected = [0.01 * min(1.0, (s + 1) / 16) for s in range(16)]
    np.testing.assert_allclose(logger.history["effective_learning_rate"], expected, rtol=1e-5)


def test_schedule_free_refuses_use_ema_and_continues_from_restored_weights(fresh_session):
    with pytest.raises(ValueError, match="use_ema"):
        O.ScheduleFreeAdamW(use_ema=True)
    x, y = _regression(128)
    model = _mlp(O.ScheduleFreeAdamW(0.01))
    snapshot = [np.array(w) for w in model.get_weights()]  # an earlier "best" state
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[C.ScheduleFreeEval()])
    # What EarlyStopping(restore_best_weights=True) does at the end of `fit`,
    # while the model holds the average x:
    model.set_weights(snapshot)
    model.optimizer.use_training_point(model)  # the next fit's first act
    for a, b in zip(model.get_weights(), snapshot):
        np.testing.assert_array_equal(a, b)  # once undone: y = f(old x, old z)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                        callbacks=[C.ScheduleFreeEval()])
    assert np.isfinite(history.history["loss"][0])


def test_sweep_refuses_what_its_copies_cannot_train_as_fit(fresh_session):
    x, y = _regression(64)

    class Custom(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    custom = Custom([keras.Input((8,)), keras.layers.Dense(1)])
    custom.compile("sgd", "mse")
    cases = [
        (custom, "overrides `train_step`"),
        (_mlp(O.LRMultiplier(keras.optimizers.SGD(0.1), {"dense": 0.0})), "wrapper of SGD"),
        (_mlp(O.Mechanic(keras.optimizers.Adam())), "wrapper of Adam"),
        (_mlp(O.Prodigy()), "learning-rate-free"),
        (_mlp(keras.optimizers.Adam(use_ema=True)), "use_ema=True"),
    ]
    for model, match in cases:
        with pytest.raises(ValueError, match=match):
            keras_lr.sweep(model, x, y, learning_rates=[0.01], epochs=1, verbose=0)


def test_fit_one_cycle_keeps_a_mechanic(fresh_session):
    x, y = _regression(64)
    model = _mlp(O.Mechanic(keras.optimizers.Adam(), s_init=1e-5))
    keras_lr.fit_one_cycle(model, x, y, epochs=1, max_lr=1e-2, batch_size=8, verbose=0)
    assert isinstance(model.optimizer, O.Mechanic)  # once silently replaced
    assert model.optimizer.s_init == 1e-5


def test_fit_one_cycle_refuses_momentum_for_prodigy_and_names_the_fix(fresh_session):
    x, y = _regression(64)
    with pytest.raises(ValueError, match="momentum=None"):
        keras_lr.fit_one_cycle(_mlp(O.Prodigy()), x, y, epochs=1, max_lr=1.0, batch_size=8,
                               verbose=0)


def test_fit_one_cycle_without_max_lr_resumes_its_cycle(tmp_path, fresh_session):
    x, y = _regression(128)
    backup = str(tmp_path / "backup")

    def run(seed, callbacks):
        model = _mlp(keras.optimizers.SGD(0.01, momentum=0.9), seed)
        history = keras_lr.fit_one_cycle(
            model, x, y, epochs=3, batch_size=16, verbose=0, shuffle=False,
            find_lr_kwargs={"num_steps": 40, "repeats": 1, "seed": seed, "verbose": 0},
            callbacks=callbacks)
        return model, history

    with pytest.raises(RuntimeError, match="crash"):
        run(0, [keras.callbacks.BackupAndRestore(backup), _Crash(0)])
    assert os.path.exists(os.path.join(backup, "keras_lr_fit_one_cycle.json"))
    # Other weights and another finder seed: the finder would answer otherwise.
    _, history = run(1, [keras.callbacks.BackupAndRestore(backup)])
    _, first = run(0, [])
    assert history.schedule.max_learning_rate == pytest.approx(
        first.schedule.max_learning_rate, rel=1e-9)
    assert history.finder_result is None  # no second range test


def test_periodic_finder_refuses_generators_and_learning_rate_free_optimizers(fresh_session):
    x, y = _regression(64)
    with pytest.raises(ValueError, match="generator or an iterator"):
        C.PeriodicLRFinder(iter([(x, y)]))
    with pytest.raises(ValueError, match="method"):
        C.PeriodicLRFinder(x, y, method="bogus")  # at construction, not epochs later
    model = _mlp(O.Prodigy())
    with pytest.raises(ValueError, match="estimates its own step size"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.PeriodicLRFinder(x, y)])


def test_wsd_takes_a_decay_fraction_of_one():
    schedule = S.WarmupStableDecay(1.0, total_steps=11, warmup_steps=2, decay_fraction=1.0,
                                   decay_shape="linear")
    values = [float(schedule(s)) for s in range(11)]
    assert values[2] == pytest.approx(1.0) and values[10] == pytest.approx(0.0)
    assert all(b < a for a, b in zip(values[2:], values[3:]))  # no stable phase


def test_exponential_cyclical_refuses_a_growing_amplitude():
    with pytest.raises(ValueError, match="gamma"):
        S.ExponentialCyclicalLearningRate(0.01, 0.1, 4, gamma=1e10)


def test_workflows_warn_when_training_ends_with_non_finite_weights(fresh_session):
    x, y = _regression(64)
    x[3] = np.nan
    model = _mlp(keras.optimizers.SGD(0.01))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_lr.fit_one_cycle(model, x, y, epochs=1, max_lr=0.01, batch_size=8, verbose=0,
                               shuffle=False)
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        assert any("weights are not finite" in str(w.message) for w in caught)
