"""ReduceLROnPlateau: Keras's rule, on floats and schedules, resumable."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.callbacks import ReduceLROnPlateau
from tests import references
from tests.digits import digits_mlp
from tests.digits import weights
from tests.probe import KernelRecorder
from tests.probe import applied_learning_rates
from tests.probe import probe_data
from tests.probe import probe_model


def fit(model, data, callbacks, epochs=8, **kwargs):
    x, y = data
    kwargs.setdefault("validation_data", (x[1200:], y[1200:]))
    return model.fit(x[:640], y[:640], batch_size=64, epochs=epochs, verbose=0,
                     shuffle=False, callbacks=callbacks, **kwargs)


def test_drop_in_for_keras_callback(digits, fresh_session):
    # Same arguments, same run: same learning rates and the same weights.
    args = dict(monitor="val_loss", factor=0.5, patience=1, min_delta=0.1, cooldown=1)
    theirs = digits_mlp(0.5)
    h_theirs = fit(theirs, digits, [keras.callbacks.ReduceLROnPlateau(**args)])
    ours = digits_mlp(0.5)
    callback = ReduceLROnPlateau(**args)
    h_ours = fit(ours, digits, [callback])
    assert callback.reductions >= 2
    np.testing.assert_allclose(h_ours.history["learning_rate"],
                               h_theirs.history["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(h_ours.history["val_loss"], h_theirs.history["val_loss"],
                               rtol=1e-5)
    for a, b in zip(weights(ours), weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(threshold_mode="rel", min_delta=0.2, patience=1, cooldown=2),
    dict(warmup=3, smoothing=0.5, patience=1, min_delta=0.1),
    dict(patience=1, min_delta=0.1, min_lr=0.2),
    dict(monitor="val_accuracy", patience=1, min_delta=0.03, threshold_mode="rel"),
])
def test_reductions_follow_the_documented_rule(digits, fresh_session, kwargs):
    kwargs = dict(dict(monitor="val_loss", factor=0.5), **kwargs)
    callback = ReduceLROnPlateau(**kwargs)
    history = fit(digits_mlp(0.5), digits, [callback], epochs=10).history
    expected = references.plateau(
        history[kwargs["monitor"]], 0.5, kwargs["factor"], kwargs["patience"],
        kwargs["min_delta"], kwargs.get("cooldown", 0), kwargs.get("min_lr", 0.0),
        minimize="acc" not in kwargs["monitor"],
        threshold_mode=kwargs.get("threshold_mode", "abs"),
        warmup=kwargs.get("warmup", 0), smoothing=kwargs.get("smoothing", 0.0))
    assert expected[-1] < 0.5  # the run does reduce
    # Logged as Keras does: the LR each epoch used, i.e. before its check.
    np.testing.assert_allclose(history["learning_rate"], np.concatenate([[0.5], expected[:-1]]),
                               rtol=1e-6)
    assert callback.reductions == int(np.sum(np.diff(np.concatenate([[0.5], expected])) < 0))


def cosine(step, initial=0.2, decay_steps=40):
    return initial * 0.5 * (1 + np.cos(np.pi * np.minimum(step, decay_steps) / decay_steps))


@pytest.mark.parametrize("schedule, reference", [
    (0.2, lambda t: np.full_like(t, 0.2, dtype="float64")),
    (keras.optimizers.schedules.CosineDecay(0.2, 40), cosine),
    (keras_lr.schedules.OneCycle(0.2, total_steps=40),
     lambda t: np.array([references.torch_one_cycle(int(s), 0.2, 40)[0] for s in t])),
], ids=["float", "CosineDecay", "OneCycle"])
def test_applied_learning_rate_is_the_reduced_one(fresh_session, schedule, reference):
    # One step per epoch; mode "max" on a falling loss: never improves, so
    # with patience 2 the LR is halved after epochs 2, 4, 6, ...
    model = probe_model(schedule)
    recorder = KernelRecorder()
    callback = ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=2)
    x, y = probe_data(1)
    model.fit(x, y, batch_size=4, epochs=8, verbose=0, callbacks=[callback, recorder])
    steps = np.arange(8)
    expected = reference(steps) * 0.5 ** np.array([0, 0, 0, 1, 1, 2, 2, 3])
    np.testing.assert_allclose(applied_learning_rates(recorder.records), expected, rtol=1e-5)
    assert callback.reductions == 3


def test_backup_and_restore_resumes_counters_and_scale(digits, tmp_path, fresh_session):
    args = dict(monitor="val_loss", factor=0.5, patience=1, min_delta=0.2, cooldown=1)
    schedule = lambda: keras.optimizers.schedules.CosineDecay(0.5, 200)  # noqa: E731

    whole = digits_mlp(schedule())
    reference = ReduceLROnPlateau(**args)
    fit(whole, digits, [reference], epochs=8)

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 3:
                raise RuntimeError("crash")

    backup = str(tmp_path / "backup")
    first = digits_mlp(schedule())
    with pytest.raises(RuntimeError, match="crash"):
        fit(first, digits, [ReduceLROnPlateau(**args),
                            keras.callbacks.BackupAndRestore(backup), Crash()], epochs=8)
    resumed_model = digits_mlp(schedule(), seed=1)  # other init: must be overwritten
    resumed = ReduceLROnPlateau(**args)
    # The other order is refused at the start (it would resume a step behind).
    with pytest.raises(ValueError, match="must stand before `BackupAndRestore`"):
        fit(resumed_model, digits, [keras.callbacks.BackupAndRestore(backup), resumed],
            epochs=8)
    fit(resumed_model, digits, [resumed, keras.callbacks.BackupAndRestore(backup)], epochs=8)
    assert reference.reductions >= 2
    assert (resumed.reductions, resumed.wait, resumed.cooldown_counter, resumed.best) == (
        reference.reductions, reference.wait, reference.cooldown_counter, reference.best)
    assert float(resumed_model.optimizer.learning_rate) == float(whole.optimizer.learning_rate)
    for a, b in zip(weights(resumed_model), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_keras_file_keeps_scale_and_counters(tmp_path, fresh_session):
    schedule = keras.optimizers.schedules.CosineDecay(0.2, 40)
    model = probe_model(schedule)
    callback = ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=2)
    x, y = probe_data(1)
    model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[callback])
    assert callback.reductions == 2
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    controlled = loaded.optimizer._learning_rate
    assert isinstance(controlled, keras_lr.schedules.ControlledSchedule)
    assert float(ops.convert_to_numpy(controlled.scale)) == 0.25
    # A new fit on the loaded model starts the counters again, as Keras's
    # callback does; the reduced rate (the scale) carries over.
    again = ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=2)
    recorder = KernelRecorder()
    loaded.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[again, recorder])
    # The first check of a fit is an improvement (best starts at None).
    assert (again.reductions, again.wait, again.best is not None) == (0, 1, True)
    start = float(ops.convert_to_numpy(model.layers[-1].kernel)[0, 0])
    np.testing.assert_allclose(applied_learning_rates(recorder.records, start),
                               cosine(np.array([5, 6])) * 0.25, rtol=1e-5)


def test_restore_best_weights_on_reduction(digits, fresh_session):
    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.at_end, self.at_begin = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.at_end.append(weights(self.model))

        def on_epoch_begin(self, epoch, logs=None):
            self.at_begin.append(weights(self.model))

    record = Record()
    callback = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=0.1,
                                 restore_best_weights=True)
    history = fit(digits_mlp(2.0), digits, [record, callback], epochs=8).history
    lrs = np.array(history["learning_rate"])
    reduced_at = int(np.argmax(lrs < 2.0)) - 1  # logged: the LR each epoch used
    assert reduced_at >= 0
    best, best_value = None, np.inf  # the rule's best: improved by > min_delta
    for i, value in enumerate(history["val_loss"][:reduced_at + 1]):
        if value < best_value - 0.1:
            best, best_value = i, np.float32(value)
    for a, b in zip(record.at_begin[reduced_at + 1], record.at_end[best]):
        np.testing.assert_array_equal(a, b)
    assert best != reduced_at


def test_every_n_batches_watches_the_mean_of_those_batches(digits, fresh_session):
    seen = []

    class Spy(ReduceLROnPlateau):
        def check(self, value):
            seen.append(value)
            super().check(value)

    class BatchLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.means = []

        def on_train_batch_end(self, batch, logs=None):
            self.means.append(logs["loss"])

    logs = BatchLogs()
    x, y = digits
    model = digits_mlp(0.1)
    model.fit(x[:640], y[:640], batch_size=32, epochs=1, verbose=0, shuffle=False,
              callbacks=[logs, Spy(monitor="loss", frequency=5, patience=100)])
    running = np.array(logs.means, dtype="float64")  # running means, 20 batches
    totals = running * np.arange(1, 21)
    expected = np.diff(np.concatenate([[0.0], totals[4::5]])) / 5
    np.testing.assert_allclose(seen, expected, rtol=1e-5)


def test_missing_metric_warns_once_with_the_available_ones(digits, fresh_session):
    x, y = digits
    with pytest.warns(UserWarning, match=r"`val_los` is not in the logs.*'loss'") as caught:
        digits_mlp().fit(x[:128], y[:128], epochs=3, verbose=0,
                         callbacks=[ReduceLROnPlateau(monitor="val_los")])
    assert sum("val_los" in str(w.message) for w in caught) == 1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(factor=1.0), ValueError, "factor=1.0"),
    (dict(factor=0), ValueError, "factor=0"),
    (dict(patience=-1), ValueError, "patience=-1"),
    (dict(mode="maximum"), ValueError, "mode"),
    (dict(min_delta=-0.1), ValueError, "min_delta=-0.1"),
    (dict(threshold_mode="relative"), ValueError, "threshold_mode"),
    (dict(smoothing=1.0), ValueError, "smoothing=1.0"),
    (dict(frequency=0), ValueError, "frequency=0"),
    (dict(frequency=10), ValueError, "monitor='val_loss'"),
    (dict(restore_best_weights=1), ValueError, "restore_best_weights=1"),
    (dict(epsilon=1e-4), TypeError, "epsilon"),
    (dict(min_lr=-1), ValueError, "min_lr=-1"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ReduceLROnPlateau(**kwargs)


def test_config_round_trip():
    callback = ReduceLROnPlateau(monitor="loss", factor=0.3, threshold_mode="rel",
                                 warmup=2, frequency=4)
    assert ReduceLROnPlateau(**callback.get_config()).get_config() == callback.get_config()
    assert keras.saving.get_registered_object("keras_lr>ReduceLROnPlateau") is ReduceLROnPlateau
