"""The learning-rate-free optimizers under `tf.distribute.MirroredStrategy`
(two logical CPUs): a run on two replicas equals the run on one device at
the same global batch, step for step (the one-device runs are checked
against the reference implementations in `test_lr_free.py`,
`test_schedule_free.py` and `test_optax_references.py`)."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.optimizers import DAdaptAdam
from keras_lr.optimizers import DoG
from keras_lr.optimizers import DoWG
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import Prodigy
from keras_lr.optimizers import ScheduleFreeAdamW
from keras_lr.optimizers import ScheduleFreeSGD
from tests.optimizers.small_net import WEIGHTS
from tests.optimizers.small_net import small_net

pytestmark = pytest.mark.tensorflow_only

STEPS = 12
BATCH = 32  # 16 per replica
_rng = np.random.default_rng(3)
X = _rng.normal(size=(STEPS * BATCH, 5)).astype("float32")
Y = (X @ _rng.normal(size=(5, 1)) + 0.1 * _rng.normal(size=(STEPS * BATCH, 1))).astype(
    "float32")

OPTIMIZERS = {
    "prodigy": lambda: Prodigy(d0=1e-3),
    "prodigy_options": lambda: Prodigy(d0=1e-3, weight_decay=0.1, safeguard_warmup=True,
                                       slice_p=3),
    "prodigy_bias_correction": lambda: Prodigy(d0=1e-3, use_bias_correction=True,
                                               decouple=False, weight_decay=0.1),
    "dadapt_adam": lambda: DAdaptAdam(d0=1e-3),
    "dog": lambda: DoG(reps_rel=1e-3),
    "dowg": lambda: DoWG(initial_squared_distance=1e-4),
    "sf_adamw": lambda: ScheduleFreeAdamW(0.01, warmup_steps=4, weight_decay=0.01),
    "sf_sgd": lambda: ScheduleFreeSGD(0.1, warmup_steps=4),
    "multiplier": lambda: LRMultiplier(Prodigy(d0=1e-3), {"hidden": 0.5}),
    "multiplier_schedule": lambda: LRMultiplier(Prodigy(d0=1e-3), {
        "hidden": keras.optimizers.schedules.ExponentialDecay(1.0, 4, 0.5)}),
    "prodigy_ema": lambda: Prodigy(d0=1e-3, use_ema=True, ema_overwrite_frequency=5),
}


def _estimate(optimizer):
    optimizer = keras_lr._core.learning_rate.innermost_optimizer(optimizer)  # noqa: SLF001
    if hasattr(optimizer, "effective_learning_rate"):
        return float(np.asarray(optimizer.effective_learning_rate()))
    return float(np.asarray(optimizer._weight_sum))  # Schedule-Free  # noqa: SLF001


def _trained(strategy, make):
    with strategy.scope():
        model = small_net()
        model.compile(make(), "mse")
    model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return _estimate(model.optimizer), model.get_weights(), model


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_two_replicas_equal_one_device(fresh_session, mirrored_strategy, name):
    import tensorflow as tf

    estimate_2, weights_2, model = _trained(mirrored_strategy, OPTIMIZERS[name])
    estimate_1, weights_1, _ = _trained(tf.distribute.get_strategy(), OPTIMIZERS[name])
    assert int(model.optimizer.iterations.numpy()) == STEPS
    assert estimate_2 == pytest.approx(estimate_1, rel=1e-4)
    for a, b in zip(weights_2, weights_1):
        # Float32 rounding of sums taken in another order, to 1e-5 of the scale.
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.max(np.abs(b))))
    # The runs moved the weights (and the estimate), so equality means something.
    moved = max(np.max(np.abs(w - w0)) for w, w0 in zip(weights_1, WEIGHTS))
    assert moved > 1e-2
    # Each device holds the same optimizer state.
    for variable in model.optimizer.variables:
        copies = [np.asarray(v) for v in variable.value.values]
        np.testing.assert_array_equal(copies[0], copies[1])


@pytest.mark.parametrize("name", ["prodigy", "sf_adamw"])
def test_mixed_precision_two_replicas_near_one_device(fresh_session, mirrored_strategy, name):
    import tensorflow as tf

    # A loss scale no first step overflows at, so that neither run skips one
    # (the skip decision is Keras's, made before the gradients are summed).
    def make():
        return keras.optimizers.LossScaleOptimizer(OPTIMIZERS[name](), initial_scale=128.0)

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        estimate_2, weights_2, model = _trained(mirrored_strategy, make)
        estimate_1, weights_1, _ = _trained(tf.distribute.get_strategy(), make)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    # float16 forward passes over other batch splits: equal to float16 rounding.
    assert estimate_2 == pytest.approx(estimate_1, rel=1e-3)
    # float16 rounding can flip a ReLU near zero for a sample on one side only,
    # which moves the few weights it feeds (one of 40 by 0.05 on some CPUs):
    # near elementwise, and close as a whole.
    for a, b in zip(weights_2, weights_1):
        off = np.abs(a - b) > 2e-3 * max(1.0, np.max(np.abs(b)))
        assert off.mean() <= 0.05, f"{off.sum()} of {off.size} weights differ"
        assert np.linalg.norm(a - b) <= 1e-2 * max(1.0, np.linalg.norm(b))
    assert max(np.max(np.abs(w - w0)) for w, w0 in zip(weights_1, WEIGHTS)) > 5e-2


def test_a_nan_on_one_replica_skips_the_step_on_both(fresh_session, mirrored_strategy):
    # A NaN sample weight in the first batch's second half (replica 1 only):
    # the summed gradient is NaN, so the whole step is skipped everywhere.
    sample_weight = np.ones(len(X), "float32")
    sample_weight[BATCH - 1] = np.nan
    with mirrored_strategy.scope():
        model = small_net()
        optimizer = Prodigy(d0=1e-3)
        model.compile(optimizer, "mse")
    model.fit(X[:BATCH], Y[:BATCH], sample_weight=sample_weight[:BATCH], batch_size=BATCH,
              shuffle=False, verbose=0)
    for w, w0 in zip(model.get_weights(), WEIGHTS):
        np.testing.assert_array_equal(w, w0)
    assert float(optimizer._d.numpy()) == pytest.approx(1e-3)  # noqa: SLF001
    model.fit(X[BATCH:2 * BATCH], Y[BATCH:2 * BATCH], batch_size=BATCH, shuffle=False,
              verbose=0)
    assert float(optimizer._d.numpy()) > 1e-3  # noqa: SLF001
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_schedule_free_evaluates_at_x_under_the_strategy(fresh_session, mirrored_strategy):
    with mirrored_strategy.scope():
        model = small_net()
        optimizer = ScheduleFreeAdamW(0.01)
        model.compile(optimizer, "mse")
    eval_callback = keras_lr.callbacks.ScheduleFreeEval()
    model.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[eval_callback])
    # After fit the model holds x, the optimizer's average, on both devices.
    for variable in model.trainable_variables:
        x = np.asarray(optimizer._x[optimizer.index(variable)])  # noqa: SLF001
        for copy in variable.value.values:
            np.testing.assert_array_equal(np.asarray(copy), x)
    expected = float(np.mean((model.predict(X, verbose=0) - Y) ** 2))
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["prodigy", "dowg", "sf_sgd"])
def test_backup_and_restore_resume_under_the_strategy(fresh_session, mirrored_strategy,
                                                      tmp_path, name):
    from tests.digits import crash_and_resume

    def make(seed):
        keras.utils.set_random_seed(seed)
        with mirrored_strategy.scope():
            model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                      keras.layers.Dense(1)])
            model.compile(OPTIMIZERS[name](), "mse")
        return model

    whole, resumed = crash_and_resume(make, X[:128], Y[:128], str(tmp_path / "backup"),
                                      epochs=3)
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(resumed.optimizer.variables, whole.optimizer.variables):
        for copy_a, copy_b in zip(a.value.values, b.value.values):
            np.testing.assert_allclose(np.asarray(copy_a), np.asarray(copy_b), rtol=1e-6,
                                       atol=1e-7)
    assert int(whole.optimizer.iterations.numpy()) == 12


def test_batchnorm_statistics_recomputed_at_x_under_the_strategy(fresh_session,
                                                                   mirrored_strategy):
    import tensorflow as tf

    from keras_lr.callbacks.schedule_free_eval import recompute_batchnorm_statistics

    def bn_model():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8),
                                 keras.layers.BatchNormalization(), keras.layers.Dense(1)])

    data = 3 * X[:96] + 1
    with mirrored_strategy.scope():
        model = bn_model()
        model.compile(ScheduleFreeAdamW(0.01), "mse")
    model.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0,
              callbacks=[keras_lr.callbacks.ScheduleFreeEval(batchnorm_data=data,
                                                             batchnorm_batches=3)])
    # The same recomputation on one device, at the same weights (x).
    with tf.distribute.get_strategy().scope():
        single = bn_model()
        single.set_weights(model.get_weights())
    assert recompute_batchnorm_statistics(single, data, batches=3, batch_size=32) == 3
    layer, reference = model.layers[1], single.layers[1]
    for variable, expected in [(layer.moving_mean, reference.moving_mean),
                               (layer.moving_variance, reference.moving_variance)]:
        for copy in variable.value.values:
            np.testing.assert_allclose(np.asarray(copy), np.asarray(expected), rtol=1e-5,
                                       atol=1e-6)
    np.testing.assert_allclose(np.asarray(reference.moving_mean),
                               np.mean(np.mean((data @ model.get_weights()[0]
                                                + model.get_weights()[1]).reshape(3, 32, 8),
                                               axis=1), axis=0), rtol=1e-4, atol=1e-5)

