"""The range test on real models: batch losses, stops, and exact restore."""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.finder import LRFinderResult
from keras_lr._core.snapshot import sync_jax_state


def digits(n=512):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype("float32"), y[:n].astype("int32")


def mlp(learning_rate=1e-3, optimizer=None, dropout=False, **compile_kwargs):
    layers = [keras.Input((64,)), keras.layers.Dense(32, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(0.3, seed=1))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        **compile_kwargs,
    )
    return model


def trained_mlp(x, y, **kwargs):
    """An MLP after one epoch: optimizer slots and metrics exist."""
    model = mlp(**kwargs)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def snapshot(model):
    """Every variable of the model, its optimizer and its metrics, as NumPy."""
    sync_jax_state(model)
    variables = (list(model.variables) + list(model.optimizer.variables)
                 + list(model.metrics_variables))
    return {f"{i}:{v.path}": np.array(ops.convert_to_numpy(v)) for i, v in enumerate(variables)}


def assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def train(model, x, y, epochs=2):
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    return [np.array(ops.convert_to_numpy(w)) for w in model.weights]


@pytest.fixture
def data():
    return digits()


def test_restores_everything_bit_for_bit_mid_training(data, fresh_session):
    x, y = data
    keras.utils.set_random_seed(0)
    model = mlp(dropout=True)
    train(model, x, y, epochs=1)  # mid-training: slots, iterations, metrics are non-trivial
    lr_object = model.optimizer._learning_rate
    functions = (model.train_function, model.test_function, model.predict_function)
    history = model.history
    before = snapshot(model)
    result = keras_lr.find_lr(model, x, y, num_steps=60, verbose=0, repeats=1)
    assert isinstance(result, LRFinderResult) and len(result) > 10
    assert_same_state(before, snapshot(model))
    assert model.optimizer._learning_rate is lr_object
    assert (model.train_function, model.test_function, model.predict_function) == functions
    assert model.history is history
    assert model.stop_training is False


def test_training_after_finder_equals_training_without(data, fresh_session):
    x, y = data
    keras.utils.set_random_seed(0)
    with_finder = mlp(dropout=True)
    keras.utils.set_random_seed(0)
    without = mlp(dropout=True)
    train(with_finder, x, y, epochs=1)
    train(without, x, y, epochs=1)
    keras_lr.find_lr(with_finder, x, y, num_steps=50, verbose=0, repeats=1)
    for a, b in zip(train(with_finder, x, y), train(without, x, y)):
        np.testing.assert_array_equal(a, b)


def test_fresh_model_with_schedule_is_restored(data, fresh_session):
    x, y = data
    keras.utils.set_random_seed(0)
    schedule = keras_lr.schedules.OneCycle(0.01, total_steps=100)
    model = mlp(optimizer=keras.optimizers.SGD(schedule, momentum=0.9))
    keras.utils.set_random_seed(0)
    reference = mlp(optimizer=keras.optimizers.SGD(schedule, momentum=0.9))
    keras_lr.find_lr(model, x, y, num_steps=40, verbose=0, repeats=1)
    assert model.optimizer._learning_rate is schedule
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 0
    for a, b in zip(train(model, x, y, 1), train(reference, x, y, 1)):
        np.testing.assert_array_equal(a, b)


class _WeightsAtBatchBegin(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_begin(self, batch, logs=None):
        sync_jax_state(self.model)
        self.weights.append([np.array(ops.convert_to_numpy(w)) for w in self.model.weights])


def test_records_each_batch_loss_not_the_running_mean(fresh_session):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    finder = keras_lr.callbacks.LRFinder(start_lr=1e-3, end_lr=0.3, num_steps=10,
                                         diverge_threshold=None)
    recorder = _WeightsAtBatchBegin()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
              callbacks=[recorder, finder])
    result = finder.result
    assert len(result) == 10 and result.stop_reason == "completed"
    by_hand = []
    for t, (kernel, bias) in enumerate(recorder.weights[:10]):
        xb, yb = x[16 * t:16 * (t + 1)], y[16 * t:16 * (t + 1)]
        by_hand.append(np.mean((xb @ kernel + bias - yb) ** 2))
    np.testing.assert_allclose(result.losses, by_hand, rtol=1e-5)
    running_mean = np.cumsum(by_hand) / np.arange(1, 11)
    assert not np.allclose(result.losses, running_mean, rtol=1e-3)
    np.testing.assert_allclose(
        result.learning_rates, 1e-3 * (0.3 / 1e-3) ** (np.arange(10) / 9), rtol=1e-12)


def test_applied_learning_rate_is_the_sweep(fresh_session):
    from tests import probe

    model = probe.probe_model(0.5)
    x, y = probe.probe_data(20)
    recorder = probe.KernelRecorder()
    finder = keras_lr.callbacks.LRFinder(1e-4, 1.0, num_steps=20, diverge_threshold=None)
    # The probe's loss falls forever (mean prediction), so nothing diverges.
    model.fit(x, y, batch_size=4, shuffle=False, verbose=0, callbacks=[recorder, finder])
    np.testing.assert_allclose(probe.applied_learning_rates(recorder.records),
                               finder.result.learning_rates, rtol=1e-4)


def test_stops_on_divergence_with_usable_result(data, fresh_session):
    x, y = data
    model = mlp(optimizer=keras.optimizers.SGD(0.01))
    result = keras_lr.find_lr(model, x, y, start_lr=1e-4, end_lr=1e4, num_steps=300,
                              verbose=0, repeats=1)
    assert result.stop_reason in ("diverged", "nan")
    assert len(result) < 300
    assert 1e-4 <= result.suggestion() <= 10


def test_stops_on_nan_and_restores(fresh_session):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32") * 100
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, verbose=0, epochs=1)
    before = snapshot(model)
    result = keras_lr.find_lr(model, x, y, start_lr=1e-3, end_lr=1e8, num_steps=200,
                              diverge_threshold=None, verbose=0, repeats=1)
    assert result.stop_reason == "nan"
    assert not np.isfinite(result.losses[-1])
    assert np.all(np.isfinite(result.losses[:-1]))
    assert_same_state(before, snapshot(model))


def test_diverge_threshold_rule(fresh_session):
    # Threshold 1.5 fires earlier than 4 on the same curve.
    x, y = digits()
    early = keras_lr.find_lr(mlp(optimizer=keras.optimizers.SGD(0.01)), x, y,
                             start_lr=1e-3, end_lr=1e3, diverge_threshold=1.5,
                             num_steps=200, seed=0, verbose=0, repeats=1)
    late = keras_lr.find_lr(mlp(optimizer=keras.optimizers.SGD(0.01)), x, y,
                            start_lr=1e-3, end_lr=1e3, diverge_threshold=4.0,
                            num_steps=200, seed=0, verbose=0, repeats=1)
    assert early.stop_reason == "diverged"
    smoothed = early.smoothed_losses
    assert smoothed[-1] > 1.5 * np.min(smoothed[:-1]) or smoothed[-1] > 1.5 * np.min(smoothed)
    assert np.all(smoothed[1:-1] <= 1.5 * np.minimum.accumulate(smoothed)[1:-1])
    assert len(early) <= len(late)


def test_loss_scale_optimizer_mixed_precision(data, fresh_session):
    x, y = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = mlp()
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        train(model, x, y, epochs=1)
        before = snapshot(model)
        assert any("dynamic_scale" in k for k in before)
        result = keras_lr.find_lr(model, x, y, num_steps=60, verbose=0, repeats=1)
        assert np.isfinite(result.losses[:10]).all()
        assert_same_state(before, snapshot(model))
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.needs_steps_per_execution
def test_steps_per_execution(data, fresh_session):
    x, y = data
    model = trained_mlp(x, y, steps_per_execution=4)
    before = snapshot(model)
    result = keras_lr.find_lr(model, x, y, num_steps=40, diverge_threshold=None, verbose=0, repeats=1)
    # find_lr sweeps with one step per execution: a point per step.
    assert len(result) == 40
    assert model.steps_per_execution == 4
    assert_same_state(before, snapshot(model))
    # The callback inside a fit with steps_per_execution=4: a point per execution.
    finder = keras_lr.callbacks.LRFinder(num_steps=40, diverge_threshold=None)
    model.fit(x, y, batch_size=32, epochs=5, verbose=0, callbacks=[finder])
    assert len(finder.result) == 10
    lrs = finder.result.learning_rates
    expected = finder._sweep.values(np.arange(40)).reshape(10, 4)
    np.testing.assert_allclose(lrs, np.exp(np.log(expected).mean(axis=1)), rtol=1e-12)


@pytest.mark.tensorflow_only
def test_mirrored_strategy(data, mirrored_strategy, fresh_session):
    x, y = data
    with mirrored_strategy.scope():
        model = mlp()
    train(model, x, y, epochs=1)
    before = snapshot(model)
    result = keras_lr.find_lr(model, x, y, num_steps=40, verbose=0, repeats=1)
    assert len(result) > 10 and np.isfinite(result.losses[:10]).all()
    assert_same_state(before, snapshot(model))


def test_cycles_short_tf_dataset_and_sample_counts(data, fresh_session):
    tf = pytest.importorskip("tensorflow")
    x, y = data
    dataset = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(16)  # 4 batches
    model = trained_mlp(x, y)
    before = snapshot(model)
    result = keras_lr.find_lr(model, dataset, num_steps=30, diverge_threshold=None,
                              verbose=0, repeats=1)
    assert len(result) == 30
    assert_same_state(before, snapshot(model))
    result = keras_lr.find_lr(model, dataset, num_steps=12, sample=2,
                              diverge_threshold=None, verbose=0, repeats=1)
    assert len(result) == 12
    # Only 2 batches, cycled: the batch losses repeat with period 2 up to the
    # change of the weights, so they are far closer than the first 4 distinct.
    assert_same_state(before, snapshot(model))


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return self.x[16 * index:16 * (index + 1)], self.y[16 * index:16 * (index + 1)]


def test_pydataset_and_generator_are_cycled(data, fresh_session):
    x, y = data
    model = trained_mlp(x, y)
    before = snapshot(model)
    result = keras_lr.find_lr(model, _Batches(x, y), num_steps=20, diverge_threshold=None,
                              verbose=0, repeats=1)
    assert len(result) == 20

    def generator():
        for i in range(3):
            yield x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]

    result = keras_lr.find_lr(model, generator(), num_steps=20, diverge_threshold=None,
                              verbose=0, repeats=1)
    assert len(result) == 20
    assert_same_state(before, snapshot(model))


def test_default_three_sweeps_replay_a_generator(data, fresh_session):
    # A generator can be read once: the 2nd and 3rd sweeps replay the batches
    # the first one drew (3 here), in other orders.
    x, y = data
    model = mlp()
    drawn = []

    def generator():
        for i in range(3):
            drawn.append(i)
            yield x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]

    result = keras_lr.find_lr(model, generator(), num_steps=12, diverge_threshold=None,
                              seed=0, verbose=0)
    assert len(result.runs) == 3 and result.config["repeats"] == 3
    assert drawn == [0, 1, 2]
    assert all(len(run) == 12 for run in result.runs)
    first_batch_losses = {round(float(run.losses[0]), 6) for run in result.runs}
    assert len(first_batch_losses) > 1  # other orders (same start state)


def test_sample_fraction_uses_a_subset(data, fresh_session):
    x, y = data
    model = mlp()
    result = keras_lr.find_lr(model, x, y, batch_size=8, sample=16, num_steps=20,
                              diverge_threshold=None, seed=1, verbose=0, repeats=1)
    assert len(result) == 20
    result = keras_lr.find_lr(model, x, y, sample=0.25, num_steps=20,
                              diverge_threshold=None, verbose=0, repeats=1)
    assert len(result) == 20


def test_exception_inside_fit_still_restores(data, fresh_session):
    x, y = data
    model = mlp()
    train(model, x, y, epochs=1)
    before = snapshot(model)

    def broken():
        for i in range(5):
            yield x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]
        raise RuntimeError("data source failed")

    # TensorFlow re-raises it as its own error type, with the message.
    with pytest.raises(Exception, match="data source failed"):
        keras_lr.find_lr(model, broken(), num_steps=50, verbose=0, repeats=1)
    assert_same_state(before, snapshot(model))
    assert model.stop_training is False


def test_repeats_report_spread(data, fresh_session):
    x, y = data
    model = trained_mlp(x, y)
    before = snapshot(model)
    result = keras_lr.find_lr(model, x, y, num_steps=80, repeats=3, seed=0, verbose=0)
    assert len(result.runs) == 3
    assert not np.array_equal(result.runs[0].losses[:20], result.runs[1].losses[:20])
    spread = result.suggestion_spread()
    assert len(spread["values"]) + spread["failed"] == 3
    assert spread["min"] <= spread["median"] <= spread["max"]
    assert result.suggestion() == pytest.approx(np.median(spread["values"]))
    assert_same_state(before, snapshot(model))


def test_validation_data_curve(data, fresh_session):
    x, y = data
    model = mlp()
    result = keras_lr.find_lr(model, x[:256], y[:256], num_steps=20,
                              validation_data=(x[256:320], y[256:320]),
                              diverge_threshold=None, verbose=0, repeats=1)
    assert result.validation_losses is not None
    assert len(result.validation_losses) == len(result) == 20
    assert np.isfinite(result.validation_losses).all()


def test_restore_false_keeps_the_sweep_weights(data, fresh_session):
    x, y = data
    model = trained_mlp(x, y)
    before = snapshot(model)
    keras_lr.find_lr(model, x, y, num_steps=20, restore=False, verbose=0, repeats=1)
    after = snapshot(model)
    assert any(not np.array_equal(before[k], after[k]) for k in before)


def test_leaves_no_files(data, tmp_path, monkeypatch, fresh_session):
    x, y = data
    monkeypatch.chdir(tmp_path)
    keras_lr.find_lr(mlp(), x, y, num_steps=20, verbose=0, repeats=1)
    assert os.listdir(tmp_path) == []


def test_verbose_summary(data, capsys, fresh_session):
    x, y = data
    keras_lr.find_lr(mlp(), x, y, num_steps=30, diverge_threshold=None, seed=0,
                     verbose="auto", repeats=1)
    out = capsys.readouterr().out
    assert out.startswith("LR finder\n")  # the bar's title, then the bar
    closing = out.strip().splitlines()[-1]
    assert closing.startswith("LR finder: 30 steps, stopped (completed)")


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(start_lr=0), ValueError, "start_lr=0"),
    (dict(start_lr=1.0, end_lr=0.5), ValueError, "end_lr=0.5"),
    (dict(num_steps=1), ValueError, "num_steps=1"),
    (dict(num_steps=10.0), ValueError, "num_steps=10.0"),
    (dict(mode="log"), ValueError, "mode='log'"),
    (dict(smoothing=1.0), ValueError, "smoothing=1.0"),
    (dict(diverge_threshold=1.0), ValueError, "diverge_threshold=1.0"),
    (dict(sample=0), ValueError, "sample=0"),
    (dict(sample=1.5), ValueError, "sample=1.5"),
    (dict(sample="10"), ValueError, "sample='10'"),
    (dict(repeats=0), ValueError, "repeats=0"),
    (dict(batch_size=0), ValueError, "batch_size=0"),
    (dict(restore="yes"), ValueError, "restore='yes'"),
    (dict(verbose=2), ValueError, "verbose=2"),
    (dict(stop_div=True), TypeError, "stop_div"),
])
def test_bad_arguments(kwargs, error, match, data, fresh_session):
    x, y = data
    model = mlp()
    with pytest.raises(error, match=match):
        keras_lr.find_lr(model, x, y, **kwargs)


def test_bad_models_and_data(data, fresh_session):
    x, y = data
    uncompiled = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="compiled"):
        keras_lr.find_lr(uncompiled, x, y, repeats=1)
    with pytest.raises(TypeError, match="keras.Model"):
        keras_lr.find_lr("model", x, y, repeats=1)
    model = mlp()
    with pytest.raises(ValueError, match="`x` is required"):
        keras_lr.find_lr(model)
    with pytest.raises(ValueError, match="empty"):
        keras_lr.find_lr(model, x[:0], y[:0], repeats=1)
    with pytest.raises(ValueError, match="same number of samples"):
        keras_lr.find_lr(model, x, y[:10], repeats=1)


def test_bad_arguments_with_datasets(data, fresh_session):
    tf = pytest.importorskip("tensorflow")
    x, y = data
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = mlp()
    with pytest.raises(ValueError, match="batch_size"):
        keras_lr.find_lr(model, dataset, batch_size=16, repeats=1)
    with pytest.raises(ValueError, match="`y` must be None"):
        keras_lr.find_lr(model, dataset, y, repeats=1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(start_lr=-1.0), "start_lr=-1.0"),
    (dict(num_steps=0), "num_steps=0"),
    (dict(restore="no"), "restore='no'"),
    (dict(smoothing=-0.1), "smoothing=-0.1"),
])
def test_callback_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_lr.callbacks.LRFinder(**kwargs)


def test_callback_unknown_argument_raises():
    with pytest.raises(TypeError):
        keras_lr.callbacks.LRFinder(stop_div=True)
