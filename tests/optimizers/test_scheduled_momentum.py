"""`ScheduledMomentum`: the momentum schedule changes the update in the compiled step."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import ScheduledMomentum
from tests import references
from tests.digits import digits_mlp
from tests.digits import weights
from tests.probe import KernelRecorder
from tests.probe import probe_data
from tests.probe import probe_model
from tests.optimizers.test_lr_multiplier import GRADS
from tests.optimizers.test_lr_multiplier import INIT
from tests.optimizers.test_lr_multiplier import STEPS
from tests.optimizers.test_lr_multiplier import apply_steps
from tests.optimizers.test_lr_multiplier import layer_variables

# A momentum that changes every step: 0.95, 0.85, 0.75, ...
MOMENTUM = keras.optimizers.schedules.PolynomialDecay(0.95, decay_steps=8, end_learning_rate=0.15)
MOMENTUM_VALUES = [0.95 - 0.1 * t for t in range(STEPS)]


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_hand_computed_update(nesterov):
    optimizer = ScheduledMomentum(
        keras.optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov), MOMENTUM)
    variable, = layer_variables("body")
    got = apply_steps(optimizer, [variable])[0]
    expected = references.optimizer_steps(
        "sgd", INIT, GRADS, [0.1] * STEPS, momentum=MOMENTUM_VALUES, nesterov=nesterov)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    constant = references.optimizer_steps("sgd", INIT, GRADS, [0.1] * STEPS, momentum=0.9,
                                          nesterov=nesterov)
    assert np.abs(np.asarray(got) - constant).max() > 1e-2  # it really changed


@pytest.mark.parametrize("cls, name, kwargs", [
    (keras.optimizers.Adam, "adam", {}),
    (keras.optimizers.AdamW, "adamw", {"weight_decay": 0.2}),
])
def test_adam_beta_1_matches_hand_computed_update(cls, name, kwargs):
    optimizer = ScheduledMomentum(cls(0.05, **kwargs), MOMENTUM)
    variable, = layer_variables("body")
    got = apply_steps(optimizer, [variable])[0]
    expected = references.optimizer_steps(name, INIT, GRADS, [0.05] * STEPS,
                                          beta_1=MOMENTUM_VALUES, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # The float is back after the step (for get_config).
    assert optimizer.inner_optimizer.beta_1 == 0.9
    assert optimizer.get_config()["optimizer"]["config"]["beta_1"] == 0.9


@pytest.mark.parametrize("cls", [keras.optimizers.Nadam, keras.optimizers.Adamax,
                                 keras.optimizers.Lion, keras.optimizers.Lamb])
def test_constant_schedule_equals_the_bare_optimizer(cls):
    constant = keras.optimizers.schedules.PolynomialDecay(0.9, 10, end_learning_rate=0.9)
    wrapped, = layer_variables("a")
    bare, = layer_variables("b")
    got = apply_steps(ScheduledMomentum(cls(0.01), constant), [wrapped])[0]
    np.testing.assert_allclose(got, apply_steps(cls(0.01), [bare])[0], rtol=1e-6, atol=1e-7)
    if cls is keras.optimizers.Lion:
        return  # sign(...) updates: these gradients flip no sign either way
    # And a varying schedule changes the update.
    moving, = layer_variables("c")
    varied = apply_steps(ScheduledMomentum(cls(0.01), MOMENTUM), [moving])[0]
    assert np.abs(np.asarray(varied) - got).max() > 1e-6


def sgd_momentum_trajectory(lrs, momenta):
    """Probe kernel (gradient exactly 1) under SGD with per-step momentum."""
    w, m, out = 0.0, 0.0, []
    for lr, mu in zip(lrs, momenta):
        m = mu * m - lr
        w += m
        out.append(w)
    return np.array(out)


@pytest.mark.parametrize("steps_per_execution", [
    1, pytest.param(4, marks=pytest.mark.needs_steps_per_execution)])
def test_one_cycle_momentum_changes_the_compiled_update(steps_per_execution, fresh_session):
    steps = 12
    lr = keras_lr.schedules.OneCycle(0.1, total_steps=steps)
    momentum = keras_lr.schedules.OneCycleMomentum(total_steps=steps)
    model = probe_model(lr, steps_per_execution=steps_per_execution,
                        jit_compile=keras.backend.backend() != "numpy")
    model.compile(optimizer=ScheduledMomentum(keras.optimizers.SGD(lr, momentum=0.9), momentum),
                  loss=model.loss, steps_per_execution=steps_per_execution)
    recorder = KernelRecorder()
    x, y = probe_data(steps)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    kernels = np.array([k for _, k in recorder.records])
    lrs = keras_lr.schedules.schedule_values(lr, steps)
    momenta = keras_lr.schedules.schedule_values(momentum, steps)
    expected = sgd_momentum_trajectory(lrs, momenta)[steps_per_execution - 1::steps_per_execution]
    np.testing.assert_allclose(kernels, expected, rtol=1e-5)
    assert np.abs(kernels - sgd_momentum_trajectory(lrs, [0.9] * steps)[
        steps_per_execution - 1::steps_per_execution]).max() > 1e-3


@pytest.mark.parametrize("order", ["multiplier_outside", "momentum_outside"])
def test_composes_with_lr_multiplier_in_either_order(order):
    def sgd():
        return keras.optimizers.SGD(0.1, momentum=0.9)

    if order == "multiplier_outside":
        optimizer = LRMultiplier(ScheduledMomentum(sgd(), MOMENTUM), {"body": 0.5})
    else:
        optimizer = ScheduledMomentum(LRMultiplier(sgd(), {"body": 0.5}), MOMENTUM)
    body, head = layer_variables("body", "head")
    got = apply_steps(optimizer, [body, head])
    for trajectory, m in zip(got, (0.5, 1.0)):
        expected = references.optimizer_steps("sgd", INIT, GRADS, [0.1 * m] * STEPS,
                                              momentum=MOMENTUM_VALUES)
        np.testing.assert_allclose(trajectory, expected, rtol=1e-5, atol=1e-6)


def test_keras_file_round_trip_then_identical_updates(digits, tmp_path, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(
        optimizer=ScheduledMomentum(keras.optimizers.SGD(0.05, momentum=0.9),
                                    keras_lr.schedules.OneCycleMomentum(total_steps=40)),
        loss=model.loss)
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, ScheduledMomentum)
    assert isinstance(loaded.optimizer.momentum_schedule, keras_lr.schedules.OneCycleMomentum)
    for m in (model, loaded):
        m.fit(x[256:512], y[256:512], batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(weights(model), weights(loaded)):
        np.testing.assert_array_equal(a, b)


def test_logger_reports_the_scheduled_momentum(fresh_session):
    steps = 6
    momentum = keras_lr.schedules.OneCycleMomentum(total_steps=steps)
    model = probe_model(0.1)
    model.compile(optimizer=ScheduledMomentum(keras.optimizers.SGD(0.1, momentum=0.9), momentum),
                  loss=model.loss)
    logger = keras_lr.callbacks.LearningRateLogger(frequency=1)
    x, y = probe_data(steps)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[logger])
    np.testing.assert_allclose(logger.history["momentum"],
                               keras_lr.schedules.schedule_values(momentum, steps), rtol=1e-6)


def test_bad_arguments():
    schedule = keras_lr.schedules.OneCycleMomentum(total_steps=10)
    with pytest.raises(TypeError, match="Argument `momentum` must be a"):
        ScheduledMomentum(keras.optimizers.SGD(momentum=0.9), 0.9)
    with pytest.raises(ValueError, match="no momentum slots"):
        ScheduledMomentum(keras.optimizers.SGD(), schedule)
    with pytest.raises(ValueError, match="Received: optimizer=RMSprop"):
        ScheduledMomentum(keras.optimizers.RMSprop(momentum=0.9), schedule)
    with pytest.raises(TypeError, match="Argument `optimizer` must be a Keras optimizer"):
        ScheduledMomentum(None, schedule)
    assert ops.convert_to_numpy(schedule(0)) == pytest.approx(0.95)


@pytest.mark.tensorflow_only
def test_mirrored_strategy(mirrored_strategy, fresh_session):
    steps = 6
    momentum = keras_lr.schedules.OneCycleMomentum(total_steps=steps)
    with mirrored_strategy.scope():
        model = probe_model(0.1)
        model.compile(optimizer=ScheduledMomentum(keras.optimizers.SGD(0.1, momentum=0.9),
                                                  momentum), loss=model.loss)
    recorder = KernelRecorder()
    x, y = probe_data(steps, batch_size=8)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    expected = sgd_momentum_trajectory([0.1] * steps,
                                       keras_lr.schedules.schedule_values(momentum, steps))
    np.testing.assert_allclose([k for _, k in recorder.records], expected, rtol=1e-5)


@pytest.mark.tensorflow_only
def test_adam_under_mirrored_strategy_equals_one_device(digits, mirrored_strategy, fresh_session):
    x, y = digits[0][:256], digits[1][:256]

    def trained(strategy):
        with strategy.scope():
            model = digits_mlp()
            model.compile(optimizer=ScheduledMomentum(keras.optimizers.Adam(1e-2), MOMENTUM),
                          loss=model.loss)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return weights(model)

    import tensorflow as tf

    for a, b in zip(trained(mirrored_strategy), trained(tf.distribute.get_strategy())):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
