"""`LearningRateLogger`: one rate per multiplier group, momentum or `beta_1`
only where the optimizer has one, and the same TensorBoard run as Keras's
`TensorBoard` callback."""

import glob

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.callbacks import LearningRateLogger
from keras_lr.optimizers import LRMultiplier


def _model(optimizer):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="body"),
                              keras.layers.Dense(4, name="neck"),
                              keras.layers.Dense(1, name="head")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype("float32"), np.ones((32, 1), "float32")


def test_one_rate_per_multiplier_group(fresh_session):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 16)
    ramp = keras.optimizers.schedules.PolynomialDecay(0.5, 16, end_learning_rate=1.0)
    optimizer = LRMultiplier(keras.optimizers.SGD(schedule),
                             {"body": 0.01, "neck": ramp, "sequential/head/.*": ramp},
                             default_multiplier=1.0)
    logger = LearningRateLogger()
    x, y = _data()
    _model(optimizer).fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[logger])
    steps = np.arange(16)
    base = keras_lr.schedules.schedule_values(schedule, 16)
    history = logger.history
    assert history["step"] == list(steps)
    assert set(history) == {"step", "learning_rate", "learning_rate/body",
                            "learning_rate/neck_and_1_more", "learning_rate/default",
                            "momentum"}
    np.testing.assert_allclose(history["learning_rate"], base, rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate/body"], 0.01 * base, rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate/neck_and_1_more"],
                               base * keras_lr.schedules.schedule_values(ramp, 16), rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate/default"], base, rtol=1e-6)


@pytest.mark.parametrize("optimizer,key,value", [
    (keras.optimizers.SGD(0.01, momentum=0.8), "momentum", 0.8),
    (keras.optimizers.Adam(0.01, beta_1=0.7), "beta_1", 0.7),
    (keras.optimizers.Adagrad(0.01), None, None),
])
def test_momentum_only_where_defined(fresh_session, optimizer, key, value):
    logger = LearningRateLogger()
    x, y = _data()
    _model(optimizer).fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    names = set(logger.history) - {"step", "learning_rate"}
    if key is None:
        assert not names
    else:
        assert names == {key}
        np.testing.assert_allclose(logger.history[key], [value] * 4, rtol=1e-6)
        assert not np.isnan(logger.history[key]).any()


@pytest.mark.parametrize("optimizer,expected", [
    (keras.optimizers.SGD(0.01, momentum=0.5, weight_decay=0.05),
     {"momentum": 0.5, "weight_decay": 0.05}),
    (keras.optimizers.AdamW(0.01, beta_1=0.8, weight_decay=0.02),
     {"beta_1": 0.8, "weight_decay": 0.02}),
])
def test_weight_decay_where_set(fresh_session, optimizer, expected):
    logger = LearningRateLogger()
    x, y = _data()
    _model(optimizer).fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert set(logger.history) - {"step", "learning_rate"} == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(logger.history[key], [value] * 4, rtol=1e-6)


def test_same_tensorboard_run_as_keras(fresh_session, tmp_path):
    tf = pytest.importorskip("tensorflow")  # tf.data, TensorBoard event files

    x, y = _data()
    logs = str(tmp_path / "logs")
    model = _model(keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 8)))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
        LearningRateLogger(log_dir=logs), keras.callbacks.TensorBoard(logs)])
    runs = {path.split("/")[-2] for path in glob.glob(f"{logs}/*/events.*")}
    assert runs == {"train"}  # one run: Keras's epoch_loss and our learning_rate
    tags = set()
    for path in glob.glob(f"{logs}/train/events.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"epoch_loss", "learning_rate"} <= tags
