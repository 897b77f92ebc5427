"""`LRMultiplier`: each variable moves as the inner optimizer with LR x m would."""

import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.optimizers import LRMultiplier
from tests import references
from tests.digits import crash_and_resume
from tests.digits import digits_mlp
from tests.digits import weights
from tests.probe import mean_prediction
from tests.probe import probe_data

STEPS = 5
RNG = np.random.default_rng(0)
GRADS = [RNG.normal(size=(3, 2)).astype("float32") for _ in range(STEPS)]
INIT = RNG.normal(size=(3, 2)).astype("float32")

# (reference name, Keras class, constructor kwargs, reference kwargs)
FAMILIES = {
    "sgd": ("sgd", keras.optimizers.SGD, {}, {}),
    "sgd_momentum": ("sgd", keras.optimizers.SGD, {"momentum": 0.9}, {"momentum": 0.9}),
    "sgd_nesterov": ("sgd", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True},
                     {"momentum": 0.9, "nesterov": True}),
    "adam": ("adam", keras.optimizers.Adam, {}, {}),
    "adamw": ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.3},
              {"weight_decay": 0.3}),
    "rmsprop": ("rmsprop", keras.optimizers.RMSprop, {}, {}),
}


def layer_variables(*names):
    """One (3, 2) variable per layer name, path `<name>/kernel`, same start."""
    variables = []
    for name in names:
        with keras.name_scope(name):
            variables.append(keras.Variable(INIT, name="kernel"))
    return variables


def apply_steps(optimizer, variables, steps=STEPS):
    """Applies GRADS to every variable; returns each variable's trajectory."""
    trajectory = [[] for _ in variables]
    for g in GRADS[:steps]:
        optimizer.apply([ops.convert_to_tensor(g) for _ in variables], variables)
        for i, v in enumerate(variables):
            trajectory[i].append(np.array(ops.convert_to_numpy(v)))
    return trajectory


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_update_equals_hand_computed_update_with_lr_times_m(family):
    name, cls, kwargs, ref_kwargs = FAMILIES[family]
    lr = 0.05
    optimizer = LRMultiplier(cls(lr, **kwargs),
                             {"body": 0.25, "frozen": 0.0, "boost": 3.0})
    body, head, frozen, boost = layer_variables("body", "head", "frozen", "boost")
    got = apply_steps(optimizer, [body, head, frozen, boost])
    for trajectory, m in ((got[0], 0.25), (got[1], 1.0), (got[3], 3.0)):
        expected = references.optimizer_steps(
            name, INIT, GRADS, [lr * m] * STEPS, **ref_kwargs)
        np.testing.assert_allclose(trajectory, expected, rtol=1e-5, atol=1e-5)
    # Multiplier 0: not one bit moves (weight decay included).
    for value in got[2]:
        np.testing.assert_array_equal(value, INIT)
    # And the same optimizer, bare, with LR x m, from the same start.
    bare_body, = layer_variables("bare")
    bare = apply_steps(cls(lr * 0.25, **kwargs), [bare_body])
    np.testing.assert_allclose(got[0], bare[0], rtol=1e-6, atol=1e-7)
    # Head at multiplier 1 is bit for bit the bare optimizer.
    bare_head, = layer_variables("bare_head")
    np.testing.assert_array_equal(got[1], apply_steps(cls(lr, **kwargs), [bare_head])[0])


def test_weight_decay_scales_with_the_multiplier():
    # With zero gradients AdamW's update is pure decay: w *= (1 - wd * lr * m).
    optimizer = LRMultiplier(keras.optimizers.AdamW(0.1, weight_decay=0.5), {"body": 0.2})
    body, head = layer_variables("body", "head")
    optimizer.apply([ops.zeros((3, 2)), ops.zeros((3, 2))], [body, head])
    np.testing.assert_allclose(ops.convert_to_numpy(body), INIT * (1 - 0.5 * 0.1 * 0.2), rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(head), INIT * (1 - 0.5 * 0.1), rtol=1e-6)


def test_excluded_variables_do_not_decay():
    body, head = layer_variables("body", "head")
    inner = keras.optimizers.AdamW(0.1, weight_decay=0.5)
    inner.exclude_from_weight_decay(var_list=[body])
    optimizer = LRMultiplier(inner, {"body": 0.2, "head": 0.5})
    optimizer.apply([ops.zeros((3, 2)), ops.zeros((3, 2))], [body, head])
    np.testing.assert_array_equal(ops.convert_to_numpy(body), INIT)
    np.testing.assert_allclose(ops.convert_to_numpy(head), INIT * (1 - 0.5 * 0.1 * 0.5), rtol=1e-6)
    # Asking the wrapper configures the wrapped optimizer.
    other, = layer_variables("other")
    wrapper = LRMultiplier(keras.optimizers.AdamW(0.1, weight_decay=0.5), {})
    wrapper.exclude_from_weight_decay(var_list=[other])
    wrapper.apply([ops.zeros((3, 2))], [other])
    np.testing.assert_array_equal(ops.convert_to_numpy(other), INIT)


def test_schedule_multipliers_and_lr_schedule_follow_the_step():
    lr = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    ramp = keras.optimizers.schedules.PolynomialDecay(0.0, decay_steps=4, end_learning_rate=1.0)
    optimizer = LRMultiplier(keras.optimizers.SGD(lr), {"body": ramp})
    body, head = layer_variables("body", "head")
    got = apply_steps(optimizer, [body, head])
    lrs = [0.1 * 0.5 ** t for t in range(STEPS)]
    ramp_values = [min(t, 4) / 4 for t in range(STEPS)]
    np.testing.assert_allclose(
        got[0], references.optimizer_steps("sgd", INIT, GRADS, np.multiply(lrs, ramp_values)),
        rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        got[1], references.optimizer_steps("sgd", INIT, GRADS, lrs), rtol=1e-5, atol=1e-7)


def test_keys_select_by_layer_name_or_regex_first_key_wins():
    optimizer = LRMultiplier(
        keras.optimizers.SGD(0.1),
        {"encoder": 0.1, r"decoder/.*/bias": 0.5, r"decoder/.*": 0.2, "dense_3": 7.0},
        default_multiplier=2.0)
    paths = ["encoder/dense_1/kernel", "encoder/dense_3/kernel", "decoder/dense_2/bias",
             "decoder/dense_2/kernel", "head/kernel", "dense_3/kernel"]
    variables = [keras.Variable(np.zeros(1), name="x") for _ in paths]
    for v, p in zip(variables, paths):
        v._path = p
    assert optimizer.variable_multipliers(variables) == {
        "encoder/dense_1/kernel": 0.1,
        "encoder/dense_3/kernel": 0.1,   # "encoder" comes first
        "decoder/dense_2/bias": 0.5,
        "decoder/dense_2/kernel": 0.2,
        "head/kernel": 2.0,
        "dense_3/kernel": 7.0,
    }
    # A layer name matches a path component, not a substring (and a key that
    # selects nothing is reported).
    with pytest.warns(UserWarning, match=r"the keys \['hidden'\] select no trainable"):
        assert LRMultiplier(keras.optimizers.SGD(0.1), {"hidden": 0.5}).variable_multipliers(
            variables[:1]) == {"encoder/dense_1/kernel": 1.0}


def test_unmatched_key_lists_the_layer_names(digits, fresh_session):
    model = digits_mlp()
    model.compile(optimizer=LRMultiplier(keras.optimizers.SGD(0.1), {"dense_typo": 0.1}),
                  loss=model.loss)
    x, y = digits
    with pytest.raises(ValueError, match=r"select no trainable variable: \['dense_typo'\]"
                       r".*Layer names: \[.*'hidden'"):
        model.fit(x[:32], y[:32], batch_size=16, epochs=1, verbose=0)


def test_bad_arguments():
    sgd = keras.optimizers.SGD
    with pytest.raises(TypeError, match="Argument `optimizer` must be a Keras optimizer"):
        LRMultiplier("adam", {})
    with pytest.raises(TypeError, match="Argument `multipliers` must be a dict"):
        LRMultiplier(sgd(), [("body", 0.1)])
    with pytest.raises(TypeError, match="string keys"):
        LRMultiplier(sgd(), {1: 0.1})
    with pytest.raises(ValueError, match=re.escape("Argument `multipliers['body']` must be >= 0")):
        LRMultiplier(sgd(), {"body": -1.0})
    with pytest.raises(ValueError, match="must be a finite number"):
        LRMultiplier(sgd(), {"body": float("nan")})
    with pytest.raises(TypeError, match=re.escape("multipliers['body']")):
        LRMultiplier(sgd(), {"body": "fast"})
    with pytest.raises(ValueError, match="valid regular expression"):
        LRMultiplier(sgd(), {"body[": 0.1})
    with pytest.raises(ValueError, match="Argument `default_multiplier` must be >= 0"):
        LRMultiplier(sgd(), {}, default_multiplier=-2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        LRMultiplier(sgd(), {}, weight_decay=0.1)
    inner = sgd()
    LRMultiplier(inner, {})
    with pytest.raises(ValueError, match="already wrapped"):
        LRMultiplier(inner, {})
    with pytest.raises(ValueError, match="not built yet"):
        LRMultiplier(sgd(), {}).variable_multipliers()


# -- in a compiled model ---------------------------------------------------


def two_layer_probe(optimizer, strategy=None):
    """Two probes side by side: each kernel's gradient is exactly 1."""
    def build():
        inputs = keras.Input((1,))
        a = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="low")(inputs)
        b = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="high")(inputs)
        model = keras.Model(inputs, keras.layers.Add()([a, b]))
        model.compile(optimizer=optimizer(), loss=mean_prediction)
        return model

    if strategy is None:
        return build()
    with strategy.scope():
        return build()


class TwoKernels(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.low, self.high = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.low.append(float(ops.convert_to_numpy(self.model.get_layer("low").kernel)[0, 0]))
        self.high.append(float(ops.convert_to_numpy(self.model.get_layer("high").kernel)[0, 0]))


def applied(record):
    return -np.diff([0.0] + record)


def fit_probe(model, steps, batch_size=4, **fit_kwargs):
    recorder = TwoKernels()
    x, y = probe_data(steps, batch_size)
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
              callbacks=[recorder] + fit_kwargs.pop("callbacks", []), **fit_kwargs)
    return applied(recorder.low), applied(recorder.high)


@pytest.mark.needs_steps_per_execution
def test_applied_lr_in_compiled_step_with_steps_per_execution(fresh_session):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.5, 0.25])
    model = two_layer_probe(lambda: LRMultiplier(keras.optimizers.SGD(schedule), {"low": 0.1}))
    model.compile(optimizer=model.optimizer, loss=mean_prediction, steps_per_execution=3,
                  jit_compile=keras.backend.backend() != "numpy")
    low, high = fit_probe(model, 6)
    # Hooks fire once per execution of 3 steps: each record is 3 steps.
    np.testing.assert_allclose(high, [0.5 * 3, 0.5 + 0.25 * 2], rtol=1e-6)
    np.testing.assert_allclose(low, [0.05 * 3, 0.05 + 0.025 * 2], rtol=1e-6)


def test_mixed_float16(fresh_session):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = two_layer_probe(lambda: LRMultiplier(keras.optimizers.SGD(0.5), {"low": 0.25}))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        low, high = fit_probe(model, 4)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    np.testing.assert_allclose(high, [0.5] * 4, rtol=1e-3)
    np.testing.assert_allclose(low, [0.125] * 4, rtol=1e-3)


@pytest.mark.tensorflow_only
def test_mirrored_strategy(mirrored_strategy, fresh_session):
    model = two_layer_probe(
        lambda: LRMultiplier(keras.optimizers.SGD(0.5, weight_decay=0.1), {"low": 0.25}),
        strategy=mirrored_strategy)
    low, high = fit_probe(model, 3, batch_size=8)
    # Kernel starts at 0, so the decay term is 0 on step 1, then w * wd * lr * m.
    expected = {}
    for name, m in (("low", 0.25), ("high", 1.0)):
        w, steps = 0.0, []
        for _ in range(3):
            new = w - w * 0.1 * 0.5 * m - 0.5 * m
            steps.append(w - new)
            w = new
        expected[name] = steps
    np.testing.assert_allclose(low, expected["low"], rtol=1e-6)
    np.testing.assert_allclose(high, expected["high"], rtol=1e-6)


def test_keras_file_round_trip_then_identical_updates(digits, tmp_path, fresh_session):
    x, y = digits
    ramp = keras.optimizers.schedules.PolynomialDecay(0.1, 100, end_learning_rate=1.0)
    model = digits_mlp()
    model.compile(
        optimizer=LRMultiplier(keras.optimizers.AdamW(1e-2, weight_decay=0.01),
                               {"hidden": ramp}, default_multiplier=0.5),
        loss=model.loss, metrics=["accuracy"])
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    optimizer = loaded.optimizer
    assert isinstance(optimizer, LRMultiplier)
    assert list(optimizer.multipliers) == ["hidden"]
    assert isinstance(optimizer.multipliers["hidden"], keras.optimizers.schedules.PolynomialDecay)
    assert optimizer.default_multiplier == 0.5
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 8
    for a, b in zip(model.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    for m in (model, loaded):
        m.fit(x[256:512], y[256:512], batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(weights(model), weights(loaded)):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_resume_is_identical(digits, tmp_path, fresh_session):
    def make(seed):
        model = digits_mlp(seed=seed)
        model.compile(optimizer=LRMultiplier(keras.optimizers.Adam(1e-2), {"hidden": 0.1}),
                      loss=model.loss)
        return model

    whole, resumed = crash_and_resume(make, digits[0][:320], digits[1][:320],
                                      str(tmp_path / "backup"))
    for a, b in zip(weights(resumed), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(resumed.optimizer.variables, whole.optimizer.variables):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b),
                                   rtol=1e-6, atol=1e-7)


def test_frozen_layer_in_fit_and_other_layers_train(digits, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(optimizer=LRMultiplier(keras.optimizers.Adam(1e-2), {"hidden": 0.0}),
                  loss=model.loss)
    before = weights(model)
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)
    after = weights(model)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert np.abs(after[2] - before[2]).max() > 1e-3


def test_finder_sweeps_the_overall_lr_and_keeps_the_ratio(fresh_session):
    model = two_layer_probe(lambda: LRMultiplier(keras.optimizers.SGD(0.5), {"low": 0.1}))
    x, y = probe_data(16)
    recorder = TwoKernels()
    finder = keras_lr.callbacks.LRFinder(start_lr=1e-3, end_lr=1e-1, num_steps=16,
                                         diverge_threshold=None)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0,
              callbacks=[finder, recorder])
    swept = np.asarray(finder.result.learning_rates)
    np.testing.assert_allclose(applied(recorder.high), swept, rtol=1e-5)
    np.testing.assert_allclose(applied(recorder.low), 0.1 * swept, rtol=1e-5)
    # Restored: the multipliers and the 0.5 learning rate apply again.
    low, high = fit_probe(model, 2)
    np.testing.assert_allclose(high, [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(low, [0.05, 0.05], rtol=1e-6)


def test_find_lr_restores_weights_and_optimizer(digits, fresh_session):
    x, y = digits
    model = digits_mlp()
    model.compile(optimizer=LRMultiplier(keras.optimizers.Adam(1e-3), {"hidden": 0.1}),
                  loss=model.loss)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
    before = weights(model) + [ops.convert_to_numpy(v) for v in model.optimizer.variables]
    keras_lr.find_lr(model, x[:256], y[:256], batch_size=32, num_steps=20, repeats=1,
                     verbose=0)
    after = weights(model) + [ops.convert_to_numpy(v) for v in model.optimizer.variables]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_plateau_scales_every_layer_and_keeps_the_ratio(fresh_session):
    model = two_layer_probe(lambda: LRMultiplier(keras.optimizers.SGD(0.5), {"low": 0.1}))
    # The probe's loss falls every step: watching it in "max" mode reduces
    # after `patience` epochs without a rise.
    plateau = keras_lr.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5,
                                                   patience=1)
    x, y = probe_data(1)
    recorder = TwoKernels()
    model.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0,
              callbacks=[plateau, recorder])
    high, low = applied(recorder.high), applied(recorder.low)
    assert plateau.reductions >= 1
    assert high[-1] < 0.5
    np.testing.assert_allclose(low, 0.1 * high, rtol=1e-6)


def test_gradual_unfreezing_with_keras_lr_schedules(fresh_session):
    # One-cycle overall LR; the bottom layer frozen for 3 steps, then warmed up.
    steps = 10
    lr = keras_lr.schedules.OneCycle(0.2, total_steps=steps)
    unfreeze = keras_lr.schedules.Join(
        [0.0, keras_lr.schedules.Warmup(0.5, warmup_steps=4)], boundaries=[3])
    model = two_layer_probe(lambda: LRMultiplier(keras.optimizers.SGD(lr), {"low": unfreeze}))
    low, high = fit_probe(model, steps)
    lrs = keras_lr.schedules.schedule_values(lr, steps)
    multipliers = [0.0] * 3 + [0.5 * min(t, 4) / 4 for t in range(steps - 3)]
    # atol: the last rate (8e-7) is near the float32 resolution of the kernel.
    np.testing.assert_allclose(high, lrs, rtol=1e-5, atol=2e-7)
    np.testing.assert_allclose(low, lrs * np.array(multipliers), rtol=1e-5, atol=2e-7)
    assert low[:4].tolist() == [0.0] * 4


def test_frozen_variable_ignores_nan_gradients():
    # The docs promise: multiplier 0 skips the update, so NaN cannot get in.
    optimizer = LRMultiplier(keras.optimizers.Adam(0.1), {"frozen": 0.0})
    frozen, head = layer_variables("frozen", "head")
    nan = ops.convert_to_tensor(np.full((3, 2), np.nan, "float32"))
    optimizer.apply([nan, ops.convert_to_tensor(GRADS[0])], [frozen, head])
    np.testing.assert_array_equal(ops.convert_to_numpy(frozen), INIT)
    assert np.isfinite(ops.convert_to_numpy(head)).all()
