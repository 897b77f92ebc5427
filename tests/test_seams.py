"""The seams between keras-lr's features: each defect of issue 14 as a test.

Every test here failed on keras-lr 0.1 (before the ground floor).
"""

import pathlib
import shutil

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.callbacks import BoldDriver
from keras_lr.callbacks import DivergenceGuard
from keras_lr.callbacks import LRFinder
from keras_lr.callbacks import LearningRateLogger
from keras_lr.callbacks import PeriodicLRFinder
from keras_lr.callbacks import ReduceLROnPlateau
from tests.conftest import BACKEND
from tests.digits import digits_mlp
from tests.digits import weights


def _fit(model, x, y, callbacks, epochs, **kwargs):
    kwargs.setdefault("batch_size", 64)
    return model.fit(x, y, epochs=epochs, verbose=0, shuffle=False,
                     callbacks=callbacks, **kwargs)


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("crash")


# ---- shared state ---------------------------------------------------------------

def test_two_plateau_callbacks_on_one_monitor_keep_their_own_state(digits, fresh_session):
    x, y = digits
    model = digits_mlp(0.5)
    eager = ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10, factor=0.9)
    patient = ReduceLROnPlateau(monitor="loss", patience=3, min_delta=10, factor=0.9)
    _fit(model, x[:640], y[:640], [eager, patient], epochs=5)
    assert (eager.reductions, patient.reductions) == (4, 1)
    assert eager.state is not patient.state
    assert eager.state.name == "ReduceLROnPlateau[loss]"
    assert patient.state.name == "ReduceLROnPlateau[loss]_1"


# ---- the order of callbacks around BackupAndRestore --------------------------------

STATEFUL = {
    "plateau": (lambda: ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10,
                                          factor=0.5), 0.5),
    "bold_driver": (lambda: BoldDriver(increase=1.5, slow=0.5), 0.05),
    # SGD at 30 on digits spikes: the guard recovers twice in 4 epochs.
    "guard": (lambda: DivergenceGuard(threshold=1.5, frequency=2, snapshot_every=2,
                                      verbose=0), 30.0),
    # A range test after epochs 2 and 4, on a fixed sample, seeded by epoch.
    "periodic_finder": (lambda: PeriodicLRFinder(*_finder_sample(), every=2, num_steps=20,
                                                 seed=0, verbose=0), 0.01),
}


def _finder_sample():
    from tests.digits import load_digits

    x, y = load_digits()
    return x[:256], y[:256]


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_stateful_callback_before_backup_resumes_as_uninterrupted(
        name, digits, tmp_path, fresh_session):
    make, lr = STATEFUL[name]
    x, y = digits[0][:640], digits[1][:640]
    whole, reference = digits_mlp(lr), make()
    _fit(whole, x, y, [reference], epochs=4)
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="crash"):
        _fit(digits_mlp(lr), x, y,
             [make(), keras.callbacks.BackupAndRestore(backup), _Crash()], epochs=4)
    resumed_model, resumed = digits_mlp(lr, seed=1), make()
    _fit(resumed_model, x, y, [resumed, keras.callbacks.BackupAndRestore(backup)], epochs=4)
    assert float(resumed_model.optimizer.learning_rate) == pytest.approx(
        float(whole.optimizer.learning_rate), rel=1e-6)
    assert resumed.state.values() == reference.state.values()
    if name == "guard":
        assert reference.recoveries >= 1
    if name == "periodic_finder":
        assert reference.tests == 2 and reference.changes >= 1
    for a, b in zip(weights(resumed_model), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("saver", ["backup", "checkpoint"])
@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_stateful_callback_after_a_saver_is_refused_at_the_start(
        name, saver, digits, tmp_path, fresh_session):
    make, lr = STATEFUL[name]
    x, y = digits
    model = digits_mlp(lr)
    before = weights(model)
    save = (keras.callbacks.BackupAndRestore(str(tmp_path / "b")) if saver == "backup" else
            keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras")))
    with pytest.raises(ValueError, match="must stand before"):
        _fit(model, x[:128], y[:128], [save, make()], epochs=1)
    for a, b in zip(weights(model), before):  # refused before the first step
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("order", ["logger_first", "backup_first"])
def test_logger_logs_the_steps_of_a_resumed_run(order, digits, tmp_path, fresh_session):
    x, y = digits[0][:640], digits[1][:640]
    schedule = lambda: keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)  # noqa: E731
    whole = LearningRateLogger()
    _fit(digits_mlp(schedule()), x, y, [whole], epochs=4)
    backup = str(tmp_path / "backup")

    def callbacks(logger):
        pair = [logger, keras.callbacks.BackupAndRestore(backup)]
        return pair if order == "logger_first" else pair[::-1]

    with pytest.raises(RuntimeError, match="crash"):
        _fit(digits_mlp(schedule()), x, y, callbacks(LearningRateLogger()) + [_Crash()],
             epochs=4)
    resumed = LearningRateLogger()
    _fit(digits_mlp(schedule(), seed=1), x, y, callbacks(resumed), epochs=4)
    assert resumed.history["step"] == whole.history["step"][20:]
    np.testing.assert_allclose(resumed.history["learning_rate"],
                               whole.history["learning_rate"][20:], rtol=1e-6)


def test_finder_callback_gives_the_same_result_on_either_side_of_a_backup(
        digits, tmp_path, fresh_session):
    x, y = digits[0][:640], digits[1][:640]
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="crash"):
        _fit(digits_mlp(0.05), x, y, [keras.callbacks.BackupAndRestore(backup), _Crash()],
             epochs=4)
    results = []
    for order in (0, 1):
        copy = str(tmp_path / f"copy{order}")
        shutil.copytree(backup, copy)
        model = digits_mlp(0.05, seed=1)
        finder = LRFinder(num_steps=8)
        pair = [finder, keras.callbacks.BackupAndRestore(copy)]
        _fit(model, x, y, pair if order == 0 else pair[::-1], epochs=5)
        results.append((finder.result.losses, weights(model),
                        int(keras.ops.convert_to_numpy(model.optimizer.iterations))))
    (losses_a, weights_a, step_a), (losses_b, weights_b, step_b) = results
    assert step_a == step_b == 20  # the loaded backup's step, restored after the sweep
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-5)
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


# ---- models fit builds itself ---------------------------------------------------------

def _unbuilt(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_find_lr_on_an_unbuilt_model_leaves_the_weights_it_was_built_with(digits, fresh_session):
    x, y = digits
    model = _unbuilt()
    keras_lr.find_lr(model, x, y, num_steps=60, repeats=1, verbose=0)
    fresh = _unbuilt()
    fresh.build((None, 64))
    for a, b in zip(weights(model), weights(fresh)):
        np.testing.assert_array_equal(a, b)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


@pytest.mark.skipif(BACKEND != "tensorflow",
                    reason="the other backends' fit builds the model before on_train_begin")
def test_finder_callback_refuses_an_unbuilt_model(digits, fresh_session):
    x, y = digits
    model = _unbuilt()
    with pytest.raises(ValueError, match="needs a built model"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LRFinder(num_steps=5)])


def _nan_weights_after(n, step):
    weights_ = np.ones(n, "float32")
    weights_[step:] = np.nan
    return weights_


def test_guard_on_an_unbuilt_model_never_leaves_nan_weights(digits, fresh_session):
    x, y = digits[0][:640], digits[1][:640]
    model = _unbuilt()
    guard = DivergenceGuard(snapshot_every=1, max_recoveries=0, verbose=0)
    # NaN losses from batch 5 on (NaN sample weights; oneDNN's ReLU maps NaN
    # inputs to 0 on some CPUs).
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False, callbacks=[guard],
              sample_weight=_nan_weights_after(640, 5 * 64))
    assert guard.events and guard.events[-1]["action"] == "stopped"
    assert all(np.isfinite(w).all() for w in weights(model))


def test_guard_checks_the_last_partial_window(digits, fresh_session):
    x, y = digits[0][:640], digits[1][:640]  # 10 batches: windows of 4, 4, then 2
    model = digits_mlp(0.05)
    guard = DivergenceGuard(frequency=4, snapshot_every=1, max_recoveries=0, verbose=0)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False, callbacks=[guard],
              sample_weight=_nan_weights_after(640, 9 * 64))
    assert [e["action"] for e in guard.events] == ["stopped"]
    assert all(np.isfinite(w).all() for w in weights(model))


# ---- negative losses --------------------------------------------------------------------

def _cosine_model(lr=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16)])
    # The same start on every backend (their initializers draw differently):
    # random, tilted towards the target's projection so that the loss starts
    # clearly negative (about -0.2, as TensorFlow's initializer gave).
    limit = np.sqrt(6 / (64 + 16))
    kernel = np.random.default_rng(3).uniform(-limit, limit, (64, 16)) + 0.02 * _PROJECTION
    model.set_weights([kernel.astype("float32"), np.zeros(16, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="cosine_similarity")
    return model


_PROJECTION = np.random.default_rng(0).normal(size=(64, 16)).astype("float32")


def _cosine_data(digits):
    x = digits[0]
    return x, x @ _PROJECTION


def test_finder_does_not_stop_on_a_negative_loss(digits, fresh_session):
    x, t = _cosine_data(digits)
    result = keras_lr.find_lr(_cosine_model(), x, t, num_steps=100, repeats=1, verbose=0,
                              end_lr=1.0)
    assert len(result) > 50
    assert result.losses.min() < -0.5


def test_guard_does_not_fire_on_a_falling_negative_loss(digits, fresh_session):
    x, t = _cosine_data(digits)
    model = _cosine_model(0.5)
    guard = DivergenceGuard(verbose=0)
    history = model.fit(x, t, batch_size=32, epochs=2, verbose=0, callbacks=[guard])
    assert history.history["loss"][-1] < -0.5
    assert guard.recoveries == 0 and guard.events == []


def test_divergence_rule_on_negative_and_zero_losses():
    from keras_lr._core.batch_loss import DivergenceRule

    rule = DivergenceRule(4.0)
    for value in (-0.1, -0.5, -0.9, -0.85):
        assert rule.update(value) == (False, value)
    assert rule.limit() == pytest.approx(-0.9 + 3 * 0.9)
    assert rule.update(1.9)[0]  # a rise of more than 3 |best| above the best
    rule = DivergenceRule(4.0)
    for value in (2.0, 0.5, 0.1):
        rule.update(value)
    assert rule.limit() == pytest.approx(0.4)  # 4 x best, as fastai and PyTorch
    rule = DivergenceRule(4.0)
    for value in (1.0, 0.0):
        rule.update(value)
    assert rule.limit() == pytest.approx(0.03)  # zero best: 1% of the first as scale
    assert not rule.update(0.02)[0] and rule.update(0.05)[0]


def test_divergence_stop_passes_a_negative_loss(digits, fresh_session):
    pytest.importorskip("keras_tuner")
    from keras_lr.tuning import DivergenceStop

    x, t = _cosine_data(digits)
    model = _cosine_model(0.5)
    model.fit(x, t, batch_size=32, epochs=1, verbose=0, callbacks=[DivergenceStop(verbose=0)])


# ---- the drop-in contract ------------------------------------------------------------------

def test_plateau_auto_mode_follows_the_metric_direction(digits, fresh_session):
    x, y = digits
    model = digits_mlp(0.05)
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="hit")])
    callback = ReduceLROnPlateau(monitor="val_hit", patience=1, min_delta=0)
    history = _fit(model, x[:640], y[:640], [callback], epochs=4,
                   validation_data=(x[1200:], y[1200:]))
    assert np.all(np.diff(history.history["val_hit"]) >= 0)  # it kept rising
    assert callback.reductions == 0


def test_plateau_keeps_a_float_rate_a_keras_variable(digits, fresh_session):
    x, y = digits
    model = digits_mlp(0.5)
    _fit(model, x[:256], y[:256],
         [ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10)], epochs=2)
    learning_rate = model.optimizer.learning_rate
    assert isinstance(learning_rate, keras.Variable)
    # Check 1 is an improvement (best starts at None), check 2 reduces.
    assert float(learning_rate.value) == pytest.approx(0.5 * 0.1, rel=1e-6)
    learning_rate.assign(0.3)  # as users (and Keras code) do
    assert float(model.optimizer.learning_rate) == pytest.approx(0.3)


@pytest.mark.parametrize("callback", [
    ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, threshold_mode="rel",
                      patience_rule="torch"),
    BoldDriver(increase=1.2, max_lr=1.0), DivergenceGuard(threshold=3.0, frequency=5),
    LearningRateLogger(frequency=3),
], ids=lambda c: type(c).__name__)
def test_callbacks_round_trip_through_keras_serialization(callback):
    config = keras.saving.serialize_keras_object(callback)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(callback)
    assert restored.get_config() == callback.get_config()


def test_torch_patience_rule_reduces_one_check_later(digits, fresh_session):
    x, y = digits
    counts = {}
    for rule in ("keras", "torch"):
        model = digits_mlp(0.5)
        callback = ReduceLROnPlateau(monitor="loss", patience=2, min_delta=10,
                                     patience_rule=rule)
        _fit(model, x[:256], y[:256], [callback], epochs=6)
        counts[rule] = callback.reductions
    # Checks 2..6 are bad. Keras: reduce at 3 and 5 (wait >= 2); PyTorch:
    # num_bad_epochs > 2 first at check 4, then 3 more bad checks are needed.
    assert counts == {"keras": 2, "torch": 1}


# ---- clear errors ---------------------------------------------------------------------------

def test_find_lr_errors(digits, tmp_path, fresh_session):
    x, y = digits
    model = digits_mlp(0.05)
    with pytest.raises(ValueError, match="Argument `y` is required"):
        keras_lr.find_lr(model, x)
    with pytest.raises(ValueError, match="start_lr.*underflow"):
        keras_lr.find_lr(model, x, y, start_lr=1e-50)
    with pytest.raises(ValueError, match="`sample` must be a count between 1 and the 1797"):
        keras_lr.find_lr(model, x, y, sample=5000)
    result = keras_lr.find_lr(model, x, y, num_steps=20, repeats=1, verbose=0,
                              validation_data=[x[:64], y[:64]])
    assert result.validation_losses is not None and len(result.validation_losses) == len(result)
    path = tmp_path / "result.json"
    result.to_json(str(path))
    assert len(keras_lr.LRFinderResult.from_json(pathlib.Path(path))) == len(result)
    curve = keras_lr.LRFinderResult(
        np.geomspace(1e-4, 1.0, 100), np.concatenate([np.linspace(2, 0.5, 80),
                                                      np.linspace(0.5, 5, 20)]))
    with pytest.raises(ValueError, match="must return a finite learning rate > 0"):
        curve.suggestion(lambda lrs, losses: -1.0)
    assert curve.suggestion(lambda lrs, losses: 0.01) == 0.01


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data")
def test_find_lr_on_an_empty_dataset_says_so(fresh_session):
    import tensorflow as tf

    model = digits_mlp(0.05)
    empty = tf.data.Dataset.from_tensor_slices(
        (np.zeros((0, 64), "float32"), np.zeros((0,), "int32"))).batch(8)
    with pytest.raises(ValueError, match="no batches"):
        keras_lr.find_lr(model, empty, verbose=0)


def test_float32_overflow_and_underflow_are_refused():
    with pytest.raises(ValueError, match="max_learning_rate.*overflow"):
        keras_lr.schedules.OneCycle(1e39, 100)
    with pytest.raises(ValueError, match="step_size.*underflow"):
        keras_lr.schedules.TriangularCyclicalLearningRate(0.1, 1.0, step_size=1e-50)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a TensorFlow tensor")
def test_cyclical_accepts_a_tensor_learning_rate_as_tensorflow_addons():
    import tensorflow as tf

    schedule = keras_lr.schedules.TriangularCyclicalLearningRate(
        tf.constant(0.1), tf.constant(1.0), step_size=4)
    assert float(schedule(2)) == pytest.approx(0.55)
    assert schedule.get_config()["initial_learning_rate"] == pytest.approx(0.1)


def test_find_lr_streams_array_batches_without_copying(digits):
    from keras_lr.finder.range_test import _array_run_data

    x, y = digits
    batches = _array_run_data(x, y, 32, 300, None, np.random.default_rng(0))
    assert batches._x is x and batches._y is y  # indexed in place, batch by batch
    assert len(batches) == 300 and batches[0][0].shape == (32, 64)


def test_plateau_reduces_each_optimizer_of_a_multi_optimizer_as_keras(digits, fresh_session):
    x, y = digits
    runs = {}
    for name, make in (("keras", keras.callbacks.ReduceLROnPlateau), ("ours", ReduceLROnPlateau)):
        model = digits_mlp(0.5)
        head, body = keras.optimizers.SGD(0.05, name="head"), keras.optimizers.SGD(0.5, name="body")
        optimizer = keras.optimizers.MultiOptimizer(
            lambda variable: head if "logits" in variable.path else body)
        model.compile(optimizer=optimizer, metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = _fit(model, x[:640], y[:640],
                       [make(monitor="loss", patience=1, min_delta=10, min_lr=0.01)], epochs=4)
        runs[name] = (history.history, weights(model))
    (keras_logs, keras_weights), (our_logs, our_weights) = runs["keras"], runs["ours"]
    for key in ("learning_rate_body", "learning_rate_head"):
        np.testing.assert_allclose(our_logs[key], keras_logs[key], rtol=1e-6)
    assert our_logs["learning_rate_head"][-1] == pytest.approx(0.01)  # stopped at min_lr
    for a, b in zip(our_weights, keras_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
