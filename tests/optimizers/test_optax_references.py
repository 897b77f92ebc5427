"""DoWG and Mechanic against their reference implementations in
`optax.contrib` (optax 0.2.8, on JAX; there is no PyTorch reference): the
same two-layer net, initial weights, batches and options, weights (and the
estimated scale) compared after 100 steps. The Keras side runs on the
backend under test (TensorFlow here, JAX through tests/test_backends.py)."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.optimizers import DoWG
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import Mechanic

jax = pytest.importorskip("jax")  # in the test extra: runs in CI
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
from optax import contrib  # noqa: E402

from tests.optimizers.small_net import STEPS  # noqa: E402
from tests.optimizers.small_net import WEIGHTS  # noqa: E402
from tests.optimizers.small_net import X  # noqa: E402
from tests.optimizers.small_net import Y  # noqa: E402
from tests.optimizers.small_net import small_net as _model  # noqa: E402


def _keras_run(optimizer, steps=STEPS):
    model = _model()
    model.compile(optimizer, "mse")
    for i in range(steps):
        model.train_on_batch(X[i], Y[i])
    return [np.asarray(v) for v in model.weights]


def _loss(params, x, y):
    hidden = jnp.tanh(x @ params[0] + params[1])
    return jnp.mean((hidden @ params[2] + params[3] - y) ** 2)


def _optax_run(transformation, steps=STEPS):
    params = [jnp.asarray(w) for w in WEIGHTS]
    state = transformation.init(params)

    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(_loss)(params, x, y)
        updates, state = transformation.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for i in range(steps):
        params, state = step(params, state, X[i], Y[i])
    return [np.asarray(p) for p in params], state


def _assert_weights_match(ours, reference, rtol):
    for ours_w, ref_w, start in zip(ours, reference, WEIGHTS):
        np.testing.assert_allclose(ours_w, ref_w, atol=rtol * np.max(np.abs(ref_w)))
    # The run really trained: the weights moved far beyond the tolerance.
    assert max(np.max(np.abs(r - w)) for r, w in zip(reference, WEIGHTS)) > 0.1


def _per_leaf_scale(factors):
    """An optax transformation multiplying each leaf's update by a factor:
    the reference of `LRMultiplier` for SGD."""
    return optax.GradientTransformation(
        lambda params: optax.EmptyState(),
        lambda updates, state, params=None: ([u * f for u, f in zip(updates, factors)], state))


@pytest.mark.parametrize("make_ours,make_theirs,rtol", [
    (lambda: Mechanic(keras.optimizers.SGD(0.1)),
     lambda: contrib.mechanize(optax.sgd(0.1)), 1e-5),
    (lambda: Mechanic(keras.optimizers.SGD(0.05, momentum=0.9)),
     lambda: contrib.mechanize(optax.sgd(0.05, momentum=0.9)), 1e-4),
    # Keras's epsilon sits outside the bias correction, optax's inside: a
    # negligible epsilon makes the two Adams the same update.
    (lambda: Mechanic(keras.optimizers.Adam(1e-2, epsilon=1e-10)),
     lambda: contrib.mechanize(optax.adam(1e-2, eps=1e-10)), 2e-4),
    (lambda: Mechanic(keras.optimizers.SGD(0.1), weight_decay=0.0, s_init=1e-4, num_betas=3),
     lambda: contrib.mechanize(optax.sgd(0.1), weight_decay=0.0, s_init=1e-4, num_betas=3),
     1e-5),
    (lambda: Mechanic(LRMultiplier(keras.optimizers.SGD(0.1), {"hidden": 0.25})),
     lambda: contrib.mechanize(optax.chain(optax.sgd(0.1),
                                           _per_leaf_scale([0.25, 0.25, 1.0, 1.0]))), 1e-5),
], ids=["sgd", "momentum", "adam", "options", "lr_multiplier"])
def test_mechanic_matches_optax_after_100_steps(fresh_session, make_ours, make_theirs, rtol):
    optimizer = make_ours()
    weights = _keras_run(optimizer)
    reference, state = _optax_run(make_theirs())
    np.testing.assert_allclose(np.asarray(optimizer._s), np.asarray(state.s),  # noqa: SLF001
                               rtol=50 * rtol)
    _assert_weights_match(weights, reference, rtol)


@pytest.mark.parametrize("ours,theirs", [
    ({}, {}),
    (dict(weight_decay=0.01), dict(weight_decay=0.01)),
    (dict(initial_squared_distance=1e-2, epsilon=1e-6),
     dict(init_estim_sq_dist=1e-2, eps=1e-6)),
    (dict(learning_rate=0.5), dict(learning_rate=0.5)),
], ids=["defaults", "decay", "distance_eps", "lr"])
def test_dowg_matches_optax_after_100_steps(fresh_session, ours, theirs):
    optimizer = DoWG(**ours)
    weights = _keras_run(optimizer)
    reference, state = _optax_run(contrib.dowg(**theirs))
    dowg_state = next(s for s in state if isinstance(s, contrib.DoWGState))
    np.testing.assert_allclose(float(np.asarray(optimizer._r2)),  # noqa: SLF001
                               float(dowg_state.estim_sq_dist), rtol=1e-5)
    _assert_weights_match(weights, reference, 1e-5)


def test_mechanic_logger_save_load_and_restore(fresh_session, tmp_path):
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=40)
    optimizer = Mechanic(keras.optimizers.Adam(schedule))
    model = _model()
    model.compile(optimizer, "mse")
    logger = keras_lr.callbacks.LearningRateLogger()
    model.fit(X[:10].reshape(-1, 5), Y[:10].reshape(-1, 1), batch_size=16, epochs=1,
              verbose=0, callbacks=[logger])
    scale = float(np.asarray(optimizer.scale()))
    assert not np.isclose(scale, 6e-6, rtol=1e-3)  # learned, not sum(s_init)
    np.testing.assert_allclose(logger.history["effective_learning_rate"][-1],
                               scale * float(schedule(9)), rtol=1e-5)
    np.testing.assert_allclose(logger.history["learning_rate"][-1], float(schedule(9)),
                               rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, Mechanic)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    for a, b in zip(loaded.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # And the loaded model goes on exactly as the original.
    for m in (model, loaded):
        m.fit(X[10:14].reshape(-1, 5), Y[10:14].reshape(-1, 1), batch_size=16, verbose=0,
              shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [lambda: Mechanic(keras.optimizers.Adam(0.1), s_init=0.5), DoWG],
                         ids=["mechanic", "dowg"])
def test_a_nan_gradient_skips_the_step(fresh_session, make):
    optimizer = make()
    variable = keras.Variable(np.ones((3,), "float32"))
    optimizer.apply([np.array([1.0, -2.0, 0.5], "float32")], [variable])
    own = [v for v in optimizer.variables if "iteration" not in v.path
           and "momentum" not in v.path and "velocity" not in v.path]
    before = [np.asarray(v).copy() for v in own]
    weights = variable.numpy().copy()
    optimizer.apply([np.array([np.nan, 1.0, 1.0], "float32")], [variable])
    np.testing.assert_array_equal(variable.numpy(), weights)
    for a, b in zip(own, before):
        np.testing.assert_array_equal(np.asarray(a), b)
    # The wrapped Adam saw a zero gradient: its moments stay finite.
    assert all(np.isfinite(np.asarray(v)).all() for v in optimizer.variables)
    assert np.isfinite(float(np.asarray(optimizer.effective_learning_rate())))
    optimizer.apply([np.array([1.0, -2.0, 0.5], "float32")], [variable])
    assert not np.array_equal(variable.numpy(), weights)  # and training goes on


def test_mechanic_mixed_precision(fresh_session):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8),
                                  keras.layers.Dense(1, dtype="float32")])
        model.compile(Mechanic(keras.optimizers.Adam(1e-2)), "mse")
        model.fit(X[:20].reshape(-1, 5), Y[:20].reshape(-1, 1), batch_size=16, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inner = model.optimizer.inner_optimizer
    assert isinstance(inner, Mechanic)
    assert not np.isclose(float(np.asarray(inner.scale())), 6e-6, rtol=1e-3)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_errors():
    for kwargs, match in [(dict(weight_decay=-1.0), "Argument `weight_decay` must be >= 0"),
                          (dict(epsilon=0.0), "Argument `epsilon` must be > 0"),
                          (dict(s_init=0.0), "Argument `s_init` must be > 0"),
                          (dict(num_betas=0), "Argument `num_betas` must be")]:
        with pytest.raises(ValueError, match=match):
            Mechanic(keras.optimizers.SGD(), **kwargs)
    with pytest.raises(TypeError, match="Argument `optimizer`"):
        Mechanic("adam")
    with pytest.raises(ValueError, match="Mechanic does not wrap Prodigy"):
        Mechanic(keras_lr.optimizers.Prodigy())
    for kwargs, match in [(dict(epsilon=0.0), "Argument `epsilon` must be > 0"),
                          (dict(initial_squared_distance=-1.0),
                           "Argument `initial_squared_distance` must be > 0"),
                          (dict(weight_decay=-0.1), "Argument `weight_decay` must be >= 0"),
                          (dict(clipnorm=1.0), "does not support `clipnorm`")]:
        with pytest.raises(ValueError, match=match):
            DoWG(**kwargs)


@pytest.mark.tensorflow_only
def test_mechanic_mirrored_strategy_equals_one_device(fresh_session, mirrored_strategy):
    import tensorflow as tf

    x, y = X[:32].reshape(-1, 5), Y[:32].reshape(-1, 1)

    def trained(strategy):
        with strategy.scope():
            model = _model()
            model.compile(Mechanic(keras.optimizers.Adam(1e-2), s_init=1e-2), "mse")
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return float(np.asarray(model.optimizer.scale())), model.get_weights()

    scale_2, w_2 = trained(mirrored_strategy)
    scale_1, w_1 = trained(tf.distribute.get_strategy())
    assert scale_2 == pytest.approx(scale_1, rel=1e-4)
    for a, b in zip(w_2, w_1):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert max(np.max(np.abs(a - b)) for a, b in zip(w_1, WEIGHTS)) > 1e-3
