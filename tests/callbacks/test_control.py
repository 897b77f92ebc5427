"""BoldDriver, DivergenceGuard and LearningRateLogger on real runs."""

import glob

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.callbacks import BoldDriver
from keras_lr.callbacks import DivergenceGuard
from keras_lr.callbacks import LearningRateLogger
from keras_lr._core.snapshot import sync_jax_state
from tests import references
from tests.digits import digits_mlp
from tests.digits import weights
from tests.probe import KernelRecorder
from tests.probe import applied_learning_rates
from tests.probe import probe_data
from tests.probe import probe_model


def test_bold_driver_follows_its_rule(digits, fresh_session):
    x, y = digits
    callback = BoldDriver(increase=1.5, decrease=0.5, slow=0.1)
    history = digits_mlp(0.05).fit(x[:640], y[:640], batch_size=64, epochs=12, verbose=0,
                                   shuffle=False, callbacks=[callback]).history
    expected = references.bold_driver(history["loss"], 0.05, 1.5, 0.5, 0.1)
    np.testing.assert_allclose(history["learning_rate"], np.concatenate([[0.05], expected[:-1]]),
                               rtol=1e-6)
    assert callback.increases >= 2  # a too-small LR is raised
    assert callback.increases + callback.decreases == int(np.sum(np.diff(
        np.concatenate([[0.05], expected])) != 0))


def test_bold_driver_bounds_and_decrease_on_a_rise(fresh_session):
    # mode "max" on a falling loss: every check is a "rise": halve, not below min_lr.
    model = probe_model(0.2)
    recorder = KernelRecorder()
    x, y = probe_data(1)
    model.fit(x, y, batch_size=4, epochs=6, verbose=0, callbacks=[
        BoldDriver(mode="max", decrease=0.5, min_lr=0.03), recorder])
    np.testing.assert_allclose(applied_learning_rates(recorder.records),
                               [0.2, 0.2, 0.1, 0.05, 0.03, 0.03], rtol=1e-5)


def test_bold_driver_bad_arguments():
    for kwargs, match in [(dict(increase=1.0), "increase=1.0"), (dict(decrease=1.5), "decrease=1.5"),
                          (dict(max_lr=0.1, min_lr=0.2), "max_lr"), (dict(patience=0), "patience=0")]:
        with pytest.raises(ValueError, match=match):
            BoldDriver(**kwargs)
    with pytest.raises(TypeError):
        BoldDriver(factor=0.5)


def training_values(model):
    """Weights and optimizer variables (all but `iterations`), as arrays."""
    sync_jax_state(model)
    return weights(model) + [
        np.array(ops.convert_to_numpy(v)) for v in model.optimizer.variables[1:]]


class Snapshots(keras.callbacks.Callback):
    """Weights and optimizer variables after every batch, and the iterations."""

    def __init__(self):
        super().__init__()
        self.states = {}

    def on_train_batch_end(self, batch, logs=None):
        values = training_values(self.model)
        self.states[int(ops.convert_to_numpy(self.model.optimizer.iterations))] = values


def spiking_schedule(spike_at):
    # 0.05, one step at 1e4 (the loss explodes), then 0.05 again.
    return keras_lr.schedules.Join([0.05, 1e4, 0.05], [spike_at, spike_at + 1])


def test_guard_restores_good_state_bit_for_bit_and_cuts_lr(digits, fresh_session):
    x, y = digits
    model = digits_mlp(spiking_schedule(30), keras.optimizers.SGD, momentum=0.9)
    guard = DivergenceGuard(snapshot_every=5, verbose=0)
    recorder, restored = Snapshots(), {}

    class AfterGuard(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if guard.events and not restored:
                restored["state"] = training_values(self.model)

    history = model.fit(x[:1280], y[:1280], batch_size=32, epochs=2, verbose=0, shuffle=False,
                        callbacks=[recorder, guard, AfterGuard()]).history
    assert guard.recoveries == 1 and guard.events[0]["action"] == "recovered"
    # The spike is step 30 (lr 1e4); step 31's loss shows it. The last good
    # snapshot: taken after a check and confirmed by the next one, at most
    # 2 * snapshot_every steps back, before the spike.
    good_steps = [s for s in recorder.states if s <= 30 and s % 5 == 0]
    matches = [s for s in good_steps if all(
        np.array_equal(a, b) for a, b in zip(restored["state"], recorder.states[s]))]
    assert matches and 20 <= matches[0] <= 30
    assert guard.events[0]["new_lr"] == pytest.approx(guard.events[0]["old_lr"] * 0.5)
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 80  # steps go on


def test_guard_nan_and_max_recoveries_stop(digits, fresh_session):
    x, y = digits
    # Every batch from the 4th on has a NaN loss. (Not NaN inputs: on some
    # CPUs oneDNN's ReLU maps NaN to 0, so NaN pixels give a finite loss.)
    sample_weight = np.ones(320, "float32")
    sample_weight[100:] = np.nan
    model = digits_mlp(0.05)
    guard = DivergenceGuard(max_recoveries=2, snapshot_every=1, verbose=0)
    start = weights(model)
    model.fit(x[:320], y[:320], sample_weight=sample_weight, batch_size=32, epochs=1,
              verbose=0, shuffle=False, callbacks=[guard])
    assert [e["action"] for e in guard.events] == ["recovered", "recovered", "stopped"]
    assert "nan" in guard.events[0]["reason"]
    assert all(np.isfinite(w).all() for w in weights(model))
    assert any(not np.array_equal(a, b) for a, b in zip(weights(model), start))


def test_guard_bad_arguments():
    for kwargs, match in [(dict(threshold=1.0), "threshold=1.0"), (dict(factor=0), "factor=0"),
                          (dict(frequency="epoch"), "frequency"),
                          (dict(snapshot_every=0), "snapshot_every=0")]:
        with pytest.raises(ValueError, match=match):
            DivergenceGuard(**kwargs)


@pytest.mark.needs_steps_per_execution
def test_logger_reports_applied_lr_with_plateau_and_spe(tmp_path, fresh_session):
    pytest.importorskip("tensorflow")  # TensorBoard event files (log_dir)
    schedule = keras.optimizers.schedules.CosineDecay(0.2, 40)
    model = probe_model(schedule, steps_per_execution=2)
    logger = LearningRateLogger(log_dir=str(tmp_path / "tb"))
    plateau = keras_lr.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5,
                                                   patience=1)
    recorder = KernelRecorder()
    x, y = probe_data(4)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[plateau, logger, recorder])
    # Hooks fire every 2 steps; the schedule is a function of the step, so
    # the logger logs every step of each execution. Epoch 0 improves (from
    # -inf), epoch 1 does not: halved from step 8 on.
    assert logger.history["step"] == list(range(12))
    steps = np.arange(12)
    reference = 0.2 * 0.5 * (1 + np.cos(np.pi * steps / 40)) * np.where(steps >= 8, 0.5, 1.0)
    np.testing.assert_allclose(logger.history["learning_rate"], reference, rtol=1e-5)
    # ... and that is what the compiled step applied (kernel moves by lr per step).
    applied_pairs = -np.diff(np.array([0.0] + [k for _, k in recorder.records]))
    np.testing.assert_allclose(applied_pairs, reference[0::2] + reference[1::2], rtol=1e-5)
    events = glob.glob(str(tmp_path / "tb" / "train" / "*"))  # the TensorBoard run
    assert events
    import tensorflow as tf

    values = [v.tensor for e in tf.compat.v1.train.summary_iterator(events[0])
              for v in e.summary.value if v.tag == "learning_rate"]
    logged = [float(tf.make_ndarray(v)) for v in values]
    np.testing.assert_allclose(logged, reference, rtol=1e-5)
