"""`keras_lr.sweep`: each copy against a separate `fit` at its learning
rate (same initial weights and batches), on the backend under test
(TensorFlow here, JAX through tests/test_backends.py)."""

import json

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.sweeps import SweepResult
from keras_lr.sweeps import estimate_memory
from tests.digits import load_digits

EPOCHS = 2


@pytest.fixture(scope="module")
def data():
    x, y = load_digits()
    return (x[:320], y[:320]), (x[320:400], y[320:400])


def _mlp(optimizer=None, seed=0, extra=(), loss=None, metrics=("accuracy",)):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              *extra, keras.layers.Dense(10)])
    model.compile(optimizer or keras.optimizers.SGD(0.1, momentum=0.9),
                  loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


def _fit(make, lr, data, epochs=EPOCHS, schedule=None):
    (x, y), validation = data
    model = make()
    optimizer = model.optimizer
    if schedule is not None:
        model.compile(type(optimizer).from_config({**optimizer.get_config(),
                                                   "learning_rate": schedule(lr)}),
                      model.loss, metrics=["accuracy"])
    else:
        optimizer.learning_rate = lr
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0,
                        validation_data=validation)
    return model, history.history


def _assert_copy_is_fit(result, k, reference, history, rtol=1e-5):
    for ours, theirs in zip(result.weights(k), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * 0.1)
    for key, values in history.items():
        np.testing.assert_allclose(result.histories[k][key], values, rtol=1e-4, atol=1e-6,
                                   err_msg=key)


@pytest.mark.parametrize("make", [
    lambda: _mlp(),
    lambda: _mlp(keras.optimizers.Adam(1e-3, clipnorm=0.05)),
    lambda: _mlp(keras.optimizers.AdamW(1e-3, weight_decay=0.05)),
], ids=["sgd_momentum", "adam_clipnorm", "adamw"])
def test_each_copy_equals_a_separate_fit(fresh_session, data, make):
    (x, y), validation = data
    rates = [3e-3, 3e-2, 0.3] if "SGD" in type(make().optimizer).__name__ else [1e-3, 1e-2]
    model = make()
    before = model.get_weights()
    result = keras_lr.sweep(model, x, y, learning_rates=rates, epochs=EPOCHS, shuffle=False,
                            validation_data=validation, verbose=0)
    for a, b in zip(model.get_weights(), before):  # the user's model is left as it was
        np.testing.assert_array_equal(a, b)
    assert set(result.histories[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for k, lr in enumerate(rates):
        reference, history = _fit(make, lr, data)
        _assert_copy_is_fit(result, k, reference, history)
    assert result.diverged_at == [None] * len(rates)
    # Clipping is per copy: with a global norm of 0.05 the copies differ
    # only by their rates (a clip across copies would couple them).


def test_a_diverging_copy_stops_while_the_others_match(fresh_session, data):
    (x, y), validation = data
    rates = [0.03, 50.0, 0.3]
    result = keras_lr.sweep(_mlp(), x, y, learning_rates=rates, epochs=EPOCHS, shuffle=False,
                            validation_data=validation, verbose=0, divergence_threshold=4.0)
    assert result.diverged_at[1] is not None and result.diverged_at[0] is None
    assert np.isnan(result.histories[1]["loss"][-1])
    assert all(np.isfinite(w).all() for w in result.weights(1))  # its last healthy step
    for k in (0, 2):
        reference, history = _fit(_mlp, rates[k], data)
        _assert_copy_is_fit(result, k, reference, history)
    assert result.best() == 0.3


def test_by_default_a_copy_whose_loss_spikes_and_recovers_trains_as_fit(fresh_session, data):
    # Adam at 1.0 on this MLP: the loss jumps to many times its first value
    # in the first steps and falls back (epoch 2: 2.7). The threshold rule
    # (once the default) masked the copy at step 1; a `fit` at that rate
    # goes on (issue 24).
    (x, y), validation = data
    make = lambda: _mlp(keras.optimizers.Adam())  # noqa: E731
    rates = [1e-3, 1.0]
    result = keras_lr.sweep(make(), x, y, learning_rates=rates, epochs=EPOCHS, shuffle=False,
                            validation_data=validation, verbose=0)
    assert result.diverged_at == [None, None]
    with_rule = keras_lr.sweep(make(), x, y, learning_rates=rates, epochs=1, shuffle=False,
                               verbose=0, divergence_threshold=4.0)
    assert with_rule.diverged_at[1] is not None  # what the rule would have done
    for k in (0, 1):
        reference, history = _fit(make, rates[k], data)
        _assert_copy_is_fit(result, k, reference, history, rtol=1e-4)


def test_a_copy_with_non_finite_gradients_stops_at_a_finite_loss(fresh_session, data):
    # One inf row: oneDNN's ReLU maps it to 0 on some CPUs, so the loss can
    # stay finite while the gradients (and a fit's weights) turn NaN.
    (x, y), _ = data
    x = x.copy()
    x[5] = np.inf
    result = keras_lr.sweep(_mlp(), x, y, learning_rates=[0.01, 0.1], epochs=1,
                            shuffle=False, verbose=0)
    assert result.diverged_at == [0, 0]  # the first batch holds the row
    for k in (0, 1):
        assert all(np.isfinite(w).all() for w in result.weights(k))


def test_negative_losses_do_not_count_as_divergence(fresh_session, data):
    (x, y), _ = data
    targets = keras.utils.to_categorical(y, 10)
    make = lambda: _mlp(keras.optimizers.Adam(), loss=keras.losses.CosineSimilarity(),  # noqa: E731
                        metrics=())
    result = keras_lr.sweep(make(), x, targets, learning_rates=[1e-3, 1e-2], epochs=3,
                            verbose=0)
    assert result.diverged_at == [None, None]
    # Healthy, falling, negative: a rule of `loss > threshold * best` would
    # flag every step of a negative loss.
    assert all(h["loss"][-1] < min(h["loss"][0], 0.0) for h in result.histories)


def test_batchnorm_and_dropout(fresh_session, data):
    (x, y), validation = data
    bn = lambda: _mlp(extra=[keras.layers.BatchNormalization()])  # noqa: E731
    result = keras_lr.sweep(bn(), x, y, learning_rates=[0.01, 0.1], epochs=EPOCHS,
                            shuffle=False, validation_data=validation, verbose=0)
    for k, lr in enumerate([0.01, 0.1]):
        reference, history = _fit(bn, lr, data)
        _assert_copy_is_fit(result, k, reference, history)  # moving statistics included
    dropout = lambda: _mlp(extra=[keras.layers.Dropout(0.3)])  # noqa: E731
    result = keras_lr.sweep(dropout(), x, y, learning_rates=[0.1, 0.1], epochs=1,
                            shuffle=False, verbose=0)
    # Copy 0 draws the model's own stream, as fit does (on PyTorch its masks
    # differ from fit's: measured, not matched yet); copy 1 an independent one.
    if keras.backend.backend() != "torch":
        reference, _ = _fit(dropout, 0.1, data, epochs=1)
        for ours, theirs in zip(result.weights(0), reference.get_weights()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(result.weights(0)[0], result.weights(1)[0])


def test_schedule_per_copy(fresh_session, data):
    (x, y), validation = data
    total = EPOCHS * 10

    def schedule(lr):
        return keras_lr.schedules.OneCycle(lr, total_steps=total)

    result = keras_lr.sweep(_mlp(), x, y, learning_rates=[0.05, 0.5], epochs=EPOCHS,
                            schedule=schedule, shuffle=False, validation_data=validation,
                            verbose=0)
    for k, lr in enumerate([0.05, 0.5]):
        reference, history = _fit(_mlp, lr, data, schedule=schedule)
        _assert_copy_is_fit(result, k, reference, history)
    with pytest.raises(ValueError, match="must be a function of the learning rate whose"):
        keras_lr.sweep(_mlp(), x, y, learning_rates=[0.1], epochs=1,
                       schedule=lambda lr: keras.optimizers.schedules.ExponentialDecay(
                           lr, 10, 0.5) if lr < 1.5 else 0.1, verbose=0)


def test_unbuilt_model_seeds_and_shuffle(fresh_session, data):
    (x, y), _ = data
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    result = keras_lr.sweep(model, x, y, learning_rates=[0.1, 0.1], seeds=[1, 2], epochs=1,
                            verbose=0)
    assert model.built
    assert not np.allclose(result.weights(0)[0], result.weights(1)[0])  # other inits
    assert set(result.histories[0]) == {"loss"}
    with pytest.raises(ValueError, match="one seed per learning rate"):
        keras_lr.sweep(model, x, y, learning_rates=[0.1, 0.2], seeds=[1], epochs=1)


def test_export_result_plot_and_json(fresh_session, data, tmp_path):
    (x, y), validation = data
    result = keras_lr.sweep(_mlp(), x, y, learning_rates=[0.01, 0.1], epochs=EPOCHS,
                            validation_data=validation, verbose=0)
    assert result.direction("val_accuracy") == "max" and result.direction("loss") == "min"
    best = result.best_index()
    assert result.best() == result.learning_rates[best]
    assert result.best("val_accuracy") in (0.01, 0.1)
    exported = result.export(1)
    for a, b in zip(exported.get_weights(), result.weights(1)):
        np.testing.assert_array_equal(a, b)
    assert float(np.asarray(exported.optimizer.learning_rate)) == pytest.approx(0.1)
    loss, accuracy = exported.evaluate(*validation, verbose=0)
    assert loss == pytest.approx(result.histories[1]["val_loss"][-1], rel=1e-4)
    exported.fit(x[:64], y[:64], verbose=0)  # a normal model
    text = result.to_json(tmp_path / "sweep.json")
    loaded = SweepResult.from_dict(json.loads((tmp_path / "sweep.json").read_text()))
    assert json.loads(text) == result.to_dict()
    assert loaded.histories == result.histories and loaded.best() == result.best()
    figure = result.plot("val_accuracy")
    assert len(figure.axes) == 2
    assert "2 learning rates" in repr(result)
    with pytest.raises(ValueError, match="Argument `metric` must be one of"):
        result.best("auc")
    with pytest.raises(ValueError, match="Argument `index` must be an integer"):
        result.export(2)


def test_memory_estimate_and_refusal(fresh_session, data):
    (x, y), _ = data
    model = _mlp(keras.optimizers.Adam())
    model.fit(x[:32], y[:32], verbose=0)
    weights = sum(w.size for w in model.get_weights()) * 4
    iterations = np.dtype(model.optimizer.iterations.dtype).itemsize  # int64, int32 on JAX
    # Adam: weights + 2 slots + iterations and learning rate; metrics 4 floats.
    estimate = estimate_memory(model, 8)
    assert estimate == 8 * (3 * weights + iterations + 4 + 4 * 4)
    with pytest.raises(ValueError, match=r"sweep of 8 learning rates needs about .* MiB"):
        keras_lr.sweep(model, x, y, learning_rates=[1e-3] * 8, epochs=1,
                       memory_limit=estimate - 1, verbose=0)


class _HostCallback(keras.layers.Layer):
    """A layer computed on the host by `jax.pure_callback`: it compiles, but
    has no batching rule, so it cannot be vectorized over K copies."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs):
        import jax

        scaled = inputs * self.scale  # batched over the copies
        constant = jax.lax.stop_gradient(scaled)
        on_host = jax.pure_callback(lambda a: np.asarray(a) * 2.0,
                                    jax.ShapeDtypeStruct(scaled.shape, scaled.dtype), constant)
        return on_host + scaled - constant  # the gradient goes straight through


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="vectorization (jax.vmap) is the JAX runner's")
def test_a_layer_that_cannot_be_vectorized_is_named(fresh_session, data):
    (x, y), _ = data
    model = keras.Sequential([keras.Input((64,)), _HostCallback(name="on_host"),
                              keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:32], y[:32], verbose=0)  # fit runs it
    with pytest.raises(ValueError, match="could not run the layer 'on_host'"):
        keras_lr.sweep(model, x, y, learning_rates=[0.1, 0.2], epochs=1, verbose=0)


def test_bad_input(fresh_session, data):
    (x, y), _ = data
    model = _mlp()
    for rates, error, match in [([], ValueError, "at least one learning rate"),
                                ([0.1, 0.0], ValueError, "finite floats > 0"),
                                ([0.1, -1.0], ValueError, "finite floats > 0"),
                                (0.1, TypeError, "must be a list of floats")]:
        with pytest.raises(error, match=match):
            keras_lr.sweep(model, x, y, learning_rates=rates, epochs=1)
    with pytest.raises(ValueError, match="Argument `epochs` must be"):
        keras_lr.sweep(model, x, y, learning_rates=[0.1], epochs=0)
    uncompiled = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="needs a compiled model"):
        keras_lr.sweep(uncompiled, x, y, learning_rates=[0.1], epochs=1)
    scheduled = _mlp(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(
        0.1, 10, 0.5)))
    with pytest.raises(ValueError, match="pass `schedule=`"):
        keras_lr.sweep(scheduled, x, y, learning_rates=[0.1], epochs=1)


def test_mixed_precision(fresh_session, data):
    (x, y), _ = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _mlp(keras.optimizers.Adam())
        result = keras_lr.sweep(model, x, y, learning_rates=[1e-3, 1e-2], epochs=1,
                                verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert result.diverged_at == [None, None]
    assert all(np.isfinite(h["loss"][-1]) for h in result.histories)
    assert result.histories[1]["loss"][-1] < result.histories[0]["loss"][-1]


def test_short_horizon_grid(fresh_session, data):
    (x, y), _ = data
    model = _mlp(keras.optimizers.SGD(0.1))
    rates = [1e-3, 1e-2, 1e-1, 1.0]
    lr, result = keras_lr.sweeps.short_horizon_grid(model, x, y, learning_rates=rates,
                                                    num_steps=40, batch_size=16)
    losses = np.array(result.final("val_loss"))
    assert lr == rates[int(np.nanargmin(losses))]
    assert lr in (1e-1, 1.0)  # 40 SGD steps: the small rates barely move
    # 40 steps of 16 rows from the first 256 rows (cycled); 64 held out.
    assert np.isfinite(losses[:3]).all()
    lr_acc, _ = keras_lr.sweeps.short_horizon_grid(model, x, y, learning_rates=rates,
                                                   num_steps=40, batch_size=16,
                                                   metric="val_accuracy")
    assert lr_acc in rates
    with pytest.raises(ValueError, match="Argument `num_steps` must be"):
        keras_lr.sweeps.short_horizon_grid(model, x, y, num_steps=0)


class _Batches:
    """A re-iterable source of `(x, y)` batches (as a `DataLoader` is)."""

    def __init__(self, x, y, batch_size=32):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __iter__(self):
        for start in range(0, len(self.x), self.batch_size):
            yield self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]


def _assert_same_result(ours, theirs):
    assert ours.histories == theirs.histories
    for k in range(len(theirs.learning_rates)):
        for a, b in zip(ours.weights(k), theirs.weights(k)):
            np.testing.assert_array_equal(a, b)


def test_a_dataset_of_batches_equals_the_arrays(fresh_session, data):
    (x, y), (xv, yv) = data
    rates = [3e-3, 3e-2]
    arrays = keras_lr.sweep(_mlp(), x, y, learning_rates=rates, epochs=EPOCHS, shuffle=False,
                            validation_data=(xv, yv), verbose=0)
    batches = keras_lr.sweep(_mlp(), _Batches(x, y), learning_rates=rates, epochs=EPOCHS,
                             validation_data=_Batches(xv, yv), verbose=0)
    _assert_same_result(batches, arrays)

    class Batches(keras.utils.PyDataset):  # Keras's own batch source
        def __len__(self):
            return -(-len(x) // 32)

        def __getitem__(self, i):
            return x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]

    py_dataset = keras_lr.sweep(_mlp(), Batches(), learning_rates=rates, epochs=EPOCHS,
                                validation_data=(xv, yv), verbose=0)
    _assert_same_result(py_dataset, arrays)
    with pytest.raises(ValueError, match="an iterator or generator is spent"):
        keras_lr.sweep(_mlp(), iter(_Batches(x, y)), learning_rates=rates, epochs=1)
    with pytest.raises(ValueError, match="Argument `y` must not be given"):
        keras_lr.sweep(_mlp(), _Batches(x, y), y, learning_rates=rates, epochs=1)
    with pytest.raises(ValueError, match="must yield `\\(x, y\\)`"):
        keras_lr.sweep(_mlp(), _Single(x), learning_rates=rates, epochs=1)
    with pytest.raises(ValueError, match="Argument `validation_data` must be"):
        keras_lr.sweep(_mlp(), x, y, learning_rates=rates, epochs=1, validation_data=(xv,))
    with pytest.raises(ValueError, match="gives no batch"):
        keras_lr.sweep(_mlp(), _Batches(x[:0], y[:0]), learning_rates=rates, epochs=1)


class _Single:
    """Yields inputs alone, not `(x, y)` tuples."""

    def __init__(self, x):
        self.x = x

    def __iter__(self):
        yield self.x[:32]


@pytest.mark.tensorflow_only
def test_a_tf_data_dataset_equals_the_arrays(fresh_session, data):
    import tensorflow as tf

    (x, y), (xv, yv) = data
    rates = [3e-3, 3e-2]
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")
    arrays = keras_lr.sweep(_mlp(), x, y, sample_weight=weights, learning_rates=rates,
                            epochs=EPOCHS, shuffle=False, validation_data=(xv, yv), verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(32)
    validation = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(32)
    result = keras_lr.sweep(_mlp(), dataset, learning_rates=rates, epochs=EPOCHS,
                            validation_data=validation, verbose=0)
    _assert_same_result(result, arrays)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="a PyTorch DataLoader")
def test_a_torch_data_loader_equals_the_arrays(fresh_session, data):
    import torch

    (x, y), _ = data
    rates = [3e-3, 3e-2]
    arrays = keras_lr.sweep(_mlp(), x, y, learning_rates=rates, epochs=EPOCHS, shuffle=False,
                            verbose=0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=32)
    result = keras_lr.sweep(_mlp(), loader, learning_rates=rates, epochs=EPOCHS, verbose=0)
    _assert_same_result(result, arrays)


def test_it_says_what_it_found_and_by_what(fresh_session, data, capsys):
    (x, y), validation = data
    result = keras_lr.sweep(_mlp(), x[:64], y[:64], learning_rates=[1e-3, 1e-2, 1e3],
                            epochs=1, batch_size=16, verbose=1)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    diverged = sum(d is not None for d in result.diverged_at)
    assert line == (f"sweep: 3 learning rates from 0.001 to 1e+03, 1 epochs each; {diverged} "
                    "diverged; "
                    f"best {result.best():.3g} by the last epoch's loss (training loss: pass "
                    "`validation_data` to rank on held-out data).")
    keras_lr.sweep(_mlp(), x[:64], y[:64], learning_rates=[1e-3, 1e-2], epochs=1,
                   batch_size=16, validation_data=validation, verbose=1)
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("by the last epoch's "
                                                                    "val_loss.")


@pytest.mark.parametrize("schedule", [1.0, "one_cycle"])
def test_the_per_copy_schedule_config_loads_back(fresh_session, schedule):
    # A sweep scales each copy's rate by a variable; its config holds that
    # scale's value and the (serialized) schedule, and loads back.
    from keras_lr.sweeps._copies import _ScaledSchedule

    if schedule == "one_cycle":
        schedule = keras_lr.schedules.OneCycle(0.1, total_steps=100)
    scale = keras.Variable(0.25)
    scaled = _ScaledSchedule(schedule, scale)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(scaled)))
    loaded = keras.saving.deserialize_keras_object(config)
    for step in (0, 30, 99):
        expected = 0.25 * (schedule(step) if callable(schedule) else schedule)
        np.testing.assert_allclose(float(loaded(step)), float(expected), rtol=1e-6)
