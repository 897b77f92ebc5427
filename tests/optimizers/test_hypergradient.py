"""`Hypergradient`: the paper's update rules, step by step, against NumPy."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.optimizers import Hypergradient
from keras_lr.optimizers import LRMultiplier
from tests import references
from tests.digits import crash_and_resume
from tests.digits import digits_mlp
from tests.digits import weights
from tests.optimizers.test_lr_multiplier import layer_variables

STEPS = 8
RNG = np.random.default_rng(1)
# Correlated gradients (a common drift plus noise), so the rate really moves.
DRIFT = RNG.normal(size=(3, 2))
GRADS = [(DRIFT + 0.5 * RNG.normal(size=(3, 2))).astype("float32") for _ in range(STEPS)]
INIT = np.zeros((3, 2), "float32")


def run(optimizer, count=1, grads=GRADS):
    variables = layer_variables(*[f"v{i}" for i in range(count)])
    for v in variables:
        v.assign(INIT)
    trajectory, lrs = [], []
    for g in grads:
        optimizer.apply([ops.convert_to_tensor(g) for _ in variables], variables)
        trajectory.append([np.array(ops.convert_to_numpy(v)) for v in variables])
        lrs.append(float(ops.convert_to_numpy(optimizer.learning_rate)))
    return trajectory, lrs


@pytest.mark.parametrize("name, make, beta", [
    ("sgd", lambda: keras.optimizers.SGD(0.01), 0.01),
    ("sgd_nesterov", lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True), 0.001),
    ("adam", lambda: keras.optimizers.Adam(0.01), 1e-3),
])
def test_matches_the_papers_rules(name, make, beta):
    trajectory, lrs = run(Hypergradient(make(), hypergradient_lr=beta))
    expected_w, expected_lr = references.hypergradient_steps(name, INIT, GRADS, 0.01, beta)
    np.testing.assert_allclose(lrs, expected_lr, rtol=1e-4)
    np.testing.assert_allclose([t[0] for t in trajectory], expected_w, rtol=1e-4, atol=1e-6)
    assert abs(lrs[-1] - 0.01) > 1e-3  # the rate moved


@pytest.mark.parametrize("name, make", [
    ("sgd", lambda: keras.optimizers.SGD(0.01)),
    ("adam", lambda: keras.optimizers.Adam(0.01)),
])
def test_multiplicative_rule(name, make):
    _, lrs = run(Hypergradient(make(), rule="multiplicative"))
    _, expected = references.hypergradient_steps(name, INIT, GRADS, 0.01, 0.05,
                                                 rule="multiplicative")
    np.testing.assert_allclose(lrs, expected, rtol=1e-4)
    assert lrs[-1] > 0.012  # agreeing gradients: the rate grew by up to 5% a step


@pytest.mark.parametrize("name, make, rule, beta", [
    ("sgd", lambda: keras.optimizers.SGD(0.01), "multiplicative", 0.1),
    ("sgd", lambda: keras.optimizers.SGD(0.01), "additive", 1e-4),
    ("adam", lambda: keras.optimizers.Adam(0.01), "multiplicative", 0.1),
])
def test_warmup(name, make, rule, beta):
    # The gradient turns against the last step at step 4 (inside the
    # warm-up), which must stop the climb there.
    grads = list(GRADS)
    grads[3] = -grads[2]
    trajectory, lrs = run(Hypergradient(make(), hypergradient_lr=beta, rule=rule,
                                        warmup_steps=5, warmup_start=0.1), grads=grads)
    expected_w, expected = references.hypergradient_steps(
        name, INIT, grads, 0.01, beta, rule=rule, warmup_steps=5, warmup_start=0.1)
    np.testing.assert_allclose(lrs, expected, rtol=1e-4)
    np.testing.assert_allclose([t[0] for t in trajectory], expected_w, rtol=1e-4, atol=1e-6)
    growth = 10 ** (1 / 5)
    assert lrs[0] == pytest.approx(0.001)                # warmup_start * lr0
    assert lrs[1] == pytest.approx(0.001 * growth)       # climbing
    assert lrs[2] == pytest.approx(0.001 * growth ** 2)
    assert lrs[3] < lrs[2]                               # the rule's decrease
    # ... and the climb resumes when the gradients agree again.
    assert any(lrs[i] == pytest.approx(lrs[i - 1] * growth) for i in (4, 5))
    # Without the turn, the climb ends exactly at the initial rate.
    _, plain = references.hypergradient_steps(
        name, INIT, GRADS, 0.01, beta, rule=rule, warmup_steps=5, warmup_start=0.1)
    _, lrs = run(Hypergradient(make(), hypergradient_lr=beta, rule=rule,
                               warmup_steps=5, warmup_start=0.1))
    np.testing.assert_allclose(lrs, plain, rtol=1e-4)
    assert lrs[5] == pytest.approx(0.01, rel=1e-5)


def test_bounds(fresh_session):
    _, lrs = run(Hypergradient(keras.optimizers.SGD(0.01), hypergradient_lr=0.01, max_lr=0.02))
    assert max(lrs) == pytest.approx(0.02)
    _, expected = references.hypergradient_steps("sgd", INIT, GRADS, 0.01, 0.01, max_lr=0.02)
    np.testing.assert_allclose(lrs, expected, rtol=1e-4)
    # Anti-correlated gradients push the rate down, to min_lr.
    flip = Hypergradient(keras.optimizers.SGD(0.01), hypergradient_lr=1.0, min_lr=0.005)
    variable, = layer_variables("flip")
    for sign in (1, -1, 1, -1):
        flip.apply([ops.convert_to_tensor(sign * DRIFT.astype("float32"))], [variable])
    assert float(ops.convert_to_numpy(flip.learning_rate)) == pytest.approx(0.005)


def test_keeps_lr_multiplier_ratios():
    optimizer = Hypergradient(
        LRMultiplier(keras.optimizers.SGD(0.01), {"v0": 0.5}), hypergradient_lr=0.01)
    trajectory, lrs = run(optimizer, count=2)
    # Variable v0 moves by 0.5 * lr_t * g, v1 by lr_t * g; the hypergradient
    # sees both: g . u = 0.5 g.g + g.g.
    w0, w1, lr, u0, u1 = INIT.astype("float64"), INIT.astype("float64"), 0.01, 0.0, 0.0
    for t, g in enumerate(GRADS):
        lr = lr + 0.01 * float(np.sum(g * u0) + np.sum(g * u1))
        w0, w1 = w0 - 0.5 * lr * g, w1 - lr * g
        u0, u1 = 0.5 * g, g
        assert lrs[t] == pytest.approx(lr, rel=1e-4)
        np.testing.assert_allclose(trajectory[t][0], w0, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(trajectory[t][1], w1, rtol=1e-4, atol=1e-6)


def test_learns_up_from_a_rate_too_small(digits, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(optimizer=Hypergradient(keras.optimizers.SGD(1e-3), hypergradient_lr=1e-3),
                  loss=model.loss)
    logger = keras_lr.callbacks.LearningRateLogger()
    model.fit(x[:512], y[:512], batch_size=32, epochs=2, verbose=0, callbacks=[logger])
    learned = float(ops.convert_to_numpy(model.optimizer.learning_rate))
    assert learned > 3e-3
    # The logger reports the learned rate of each step.
    assert logger.history["learning_rate"][-1] == pytest.approx(learned, rel=1e-6)
    assert logger.history["learning_rate"][0] < logger.history["learning_rate"][-1]


def test_keras_file_round_trip_then_identical_updates(digits, tmp_path, fresh_session):
    x, y = digits
    model = digits_mlp()
    # Saved in the middle of a warm-up (8 of 12 steps): its ceiling, the
    # initial rate, must come back with the file.
    model.compile(optimizer=Hypergradient(keras.optimizers.Adam(1e-3), max_lr=0.1,
                                          rule="multiplicative", warmup_steps=12),
                  loss=model.loss)
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) < 1e-3
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, Hypergradient)
    assert loaded.optimizer.get_config()["max_lr"] == 0.1
    assert loaded.optimizer.get_config()["warmup_steps"] == 12
    assert float(ops.convert_to_numpy(loaded.optimizer.learning_rate)) == float(
        ops.convert_to_numpy(model.optimizer.learning_rate))
    for m in (model, loaded):
        m.fit(x[256:512], y[256:512], batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(weights(model), weights(loaded)):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_resume(digits, tmp_path, fresh_session):
    def make(seed):
        model = digits_mlp(seed=seed)
        model.compile(optimizer=Hypergradient(keras.optimizers.SGD(0.01), warmup_steps=25),
                      loss=model.loss)
        return model

    whole, resumed = crash_and_resume(make, digits[0][:320], digits[1][:320],
                                      str(tmp_path / "backup"))
    assert float(ops.convert_to_numpy(resumed.optimizer.learning_rate)) == pytest.approx(
        float(ops.convert_to_numpy(whole.optimizer.learning_rate)), rel=1e-6)
    for a, b in zip(weights(resumed), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mixed_float16(digits, fresh_session):
    x, y = digits
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = digits_mlp()
        model.compile(optimizer=Hypergradient(keras.optimizers.SGD(1e-3), hypergradient_lr=1e-3),
                      loss=model.loss)
        model.fit(x[:512], y[:512], batch_size=32, epochs=2, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    learned = float(ops.convert_to_numpy(model.optimizer.learning_rate))
    assert np.isfinite(learned) and learned > 2e-3
    assert all(np.isfinite(w).all() for w in weights(model))


def test_mixed_float16_warmup(digits, fresh_session):
    # The loss-scale optimizer skips the first steps (overflow) without
    # counting them: the warm-up must still start from the initial rate.
    x, y = digits
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = digits_mlp()
        hd = Hypergradient(keras.optimizers.SGD(0.1), rule="multiplicative",
                           hypergradient_lr=0.1, warmup_steps=8)
        model.compile(optimizer=hd, loss=model.loss)
        model.fit(x[:512], y[:512], batch_size=32, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert float(ops.convert_to_numpy(hd._warmup_target)) == pytest.approx(0.1)
    learned = float(ops.convert_to_numpy(hd.learning_rate))
    assert np.isfinite(learned) and learned > 1e-3
    assert all(np.isfinite(w).all() for w in weights(model))


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("rule, beta, warmup", [
    ("additive", 1e-3, 0), ("multiplicative", 0.05, 0), ("multiplicative", 0.1, 5)])
def test_mirrored_strategy_equals_one_device(rule, beta, warmup, digits, mirrored_strategy,
                                             fresh_session):
    import tensorflow as tf

    x, y = digits[0][:256], digits[1][:256]

    def trained(strategy):
        with strategy.scope():
            model = digits_mlp()
            model.compile(optimizer=Hypergradient(keras.optimizers.SGD(1e-3), rule=rule,
                                                  hypergradient_lr=beta, warmup_steps=warmup),
                          loss=model.loss)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return float(ops.convert_to_numpy(model.optimizer.learning_rate)), weights(model)

    lr_2, w_2 = trained(mirrored_strategy)
    lr_1, w_1 = trained(tf.distribute.get_strategy())
    assert lr_2 == pytest.approx(lr_1, rel=1e-4)
    for a, b in zip(w_2, w_1):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_finder_steps_aside_and_restores(digits, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(optimizer=Hypergradient(keras.optimizers.SGD(1e-2)), loss=model.loss)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
    before = weights(model) + [ops.convert_to_numpy(v) for v in model.optimizer.variables]
    result = keras_lr.find_lr(model, x[:256], y[:256], batch_size=32, num_steps=20,
                              repeats=1, verbose=0)
    assert len(result.learning_rates) > 5
    after = weights(model) + [ops.convert_to_numpy(v) for v in model.optimizer.variables]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # learns again


def test_lr_control_callbacks_refuse(digits, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(optimizer=Hypergradient(keras.optimizers.SGD(1e-2)), loss=model.loss)
    with pytest.raises(ValueError, match="cannot also change it"):
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0,
                  callbacks=[keras_lr.callbacks.ReduceLROnPlateau(monitor="loss")])


def test_bad_arguments():
    with pytest.raises(ValueError, match="must be a float"):
        Hypergradient(keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 10)))
    with pytest.raises(ValueError, match="Argument `hypergradient_lr` must be > 0"):
        Hypergradient(keras.optimizers.SGD(), hypergradient_lr=0.0)
    with pytest.raises(ValueError, match="Argument `min_lr` must be >= 0"):
        Hypergradient(keras.optimizers.SGD(), min_lr=-1.0)
    with pytest.raises(ValueError, match="Argument `max_lr` must be > 0.1"):
        Hypergradient(keras.optimizers.SGD(), min_lr=0.1, max_lr=0.1)
    with pytest.raises(TypeError, match="Argument `optimizer`"):
        Hypergradient("sgd")
    with pytest.raises(ValueError, match="Argument `rule` must be one of"):
        Hypergradient(keras.optimizers.SGD(), rule="exponential")
    with pytest.raises(ValueError, match="Argument `warmup_steps` must be"):
        Hypergradient(keras.optimizers.SGD(), warmup_steps=-1)
    with pytest.raises(ValueError, match="Argument `warmup_steps` must be an integer"):
        Hypergradient(keras.optimizers.SGD(), warmup_steps=2.5)
    for bad in (0.0, 1.0, 2.0):
        with pytest.raises(ValueError, match="Argument `warmup_start` must be"):
            Hypergradient(keras.optimizers.SGD(), warmup_steps=3, warmup_start=bad)
    assert Hypergradient(keras.optimizers.Adam()).hypergradient_lr == 1e-7
    assert Hypergradient(keras.optimizers.SGD()).hypergradient_lr == 1e-3
