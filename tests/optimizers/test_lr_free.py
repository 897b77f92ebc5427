"""The learning-rate-free optimizers against their reference implementations
(`prodigyopt` 1.1.2, `dadaptation` 3.2, `dog-optimizer` 1.0.3, on PyTorch
2.13.0 CPU): the same
model, initial weights, batches and options, weights compared after 100
steps."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.optimizers import DAdaptAdam
from keras_lr.optimizers import DoG
from keras_lr.optimizers import Prodigy
from tests.optimizers.small_net import STEPS
from tests.optimizers.small_net import WEIGHTS
from tests.optimizers.small_net import X
from tests.optimizers.small_net import Y
from tests.optimizers.small_net import small_net

torch = pytest.importorskip("torch")  # in the test extra: runs in CI
prodigyopt = pytest.importorskip("prodigyopt")
dadaptation = pytest.importorskip("dadaptation")
dog = pytest.importorskip("dog")  # dog-optimizer


def _keras_run(optimizer, steps=STEPS):
    model = small_net()
    model.compile(optimizer, "mse")
    for i in range(steps):
        model.train_on_batch(X[i], Y[i])
    return model, [v.numpy() for v in model.weights]


def _torch_run(steps=STEPS, reference=None, groups=None, **kwargs):
    """The reference's run; `groups(net)` gives its parameter groups (default:
    all parameters in one)."""
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(WEIGHTS[0].T))
        net[0].bias.copy_(torch.tensor(WEIGHTS[1]))
        net[2].weight.copy_(torch.tensor(WEIGHTS[2].T))
        net[2].bias.copy_(torch.tensor(WEIGHTS[3]))
    parameters = net.parameters() if groups is None else groups(net)
    optimizer = (reference or prodigyopt.Prodigy)(parameters, **kwargs)
    for i in range(steps):
        optimizer.zero_grad()
        loss = ((net(torch.tensor(X[i])) - torch.tensor(Y[i])) ** 2).mean()
        loss.backward()
        optimizer.step()
    weights = [net[0].weight.detach().numpy().T, net[0].bias.detach().numpy(),
               net[2].weight.detach().numpy().T, net[2].bias.detach().numpy()]
    group = optimizer.param_groups[0]
    estimate = group["d"] if "d" in group else float(group["eta"][0])  # DoG: eta
    return estimate, weights


@pytest.mark.parametrize("ours,theirs", [
    ({}, {}),
    (dict(weight_decay=0.01), dict(weight_decay=0.01)),
    (dict(weight_decay=0.01, decouple=False), dict(weight_decay=0.01, decouple=False)),
    (dict(safeguard_warmup=True, use_bias_correction=True),
     dict(safeguard_warmup=True, use_bias_correction=True)),
    (dict(slice_p=3, beta_1=0.0), dict(slice_p=3, betas=(0.0, 0.999))),
    (dict(growth_rate=1.02, d_coef=0.5), dict(growth_rate=1.02, d_coef=0.5)),
    (dict(learning_rate=0.5, beta_3=0.99, d0=1e-5), dict(lr=0.5, beta3=0.99, d0=1e-5)),
], ids=["defaults", "decoupled_decay", "coupled_decay", "safeguard_bias", "slice_no_beta1",
        "growth_dcoef", "lr_beta3_d0"])
def test_matches_the_reference_after_100_steps(fresh_session, ours, theirs):
    optimizer = Prodigy(**ours)
    _, weights = _keras_run(optimizer)
    d, reference = _torch_run(**theirs)
    # float32 differences (TF's and torch's matmuls) grow through the
    # estimate: 100 steps stay within 1e-3 of the weights' scale (measured:
    # at most 2.5e-4).
    np.testing.assert_allclose(float(optimizer._d.numpy()), d, rtol=1e-4)  # noqa: SLF001
    for ours_w, ref_w in zip(weights, reference):
        np.testing.assert_allclose(ours_w, ref_w, atol=1e-3 * np.max(np.abs(ref_w)))
    assert d > 5 * theirs.get("d0", 1e-6)  # the estimate really grew


@pytest.mark.parametrize("options", [
    {}, dict(weight_decay=0.01), dict(weight_decay=0.01, decouple=True),
    dict(use_bias_correction=True), dict(growth_rate=1.05, d0=1e-5),
], ids=["lr", "coupled_decay", "decoupled_decay", "bias", "growth_d0"])
def test_dadapt_adam_matches_the_reference_after_100_steps(fresh_session, options):
    # At lr=1 D-Adaptation's estimate (0.53 here) makes this small net's
    # trajectory chaotic within 50 steps, where any two float32
    # implementations part; lr=0.1 keeps it smooth (both estimates still
    # grow from d0 by orders of magnitude).
    optimizer = DAdaptAdam(learning_rate=0.1, **options)
    _, weights = _keras_run(optimizer)
    d, reference = _torch_run(reference=dadaptation.DAdaptAdam, lr=0.1, **options)
    theirs = options
    np.testing.assert_allclose(float(optimizer._d.numpy()), d, rtol=1e-4)  # noqa: SLF001
    for ours_w, ref_w in zip(weights, reference):
        np.testing.assert_allclose(ours_w, ref_w, atol=1e-3 * np.max(np.abs(ref_w)))
    assert d > 5 * theirs.get("d0", 1e-6)


@pytest.mark.parametrize("options", [
    {}, dict(weight_decay=0.01), dict(reps_rel=1e-4), dict(initial_step_size=1e-3),
], ids=["defaults", "decay", "reps_rel", "initial_step_size"])
def test_dog_matches_the_reference_after_100_steps(fresh_session, options):
    optimizer = DoG(**options)
    _, weights = _keras_run(optimizer)
    theirs = dict(options)
    if "initial_step_size" in theirs:
        theirs["init_eta"] = theirs.pop("initial_step_size")
    eta, reference = _torch_run(reference=dog.DoG, **theirs)
    np.testing.assert_allclose(float(optimizer._eta.numpy()), eta, rtol=1e-5)  # noqa: SLF001
    for ours_w, ref_w in zip(weights, reference):
        np.testing.assert_allclose(ours_w, ref_w, atol=1e-5 * np.max(np.abs(ref_w)))


def _estimate(optimizer):
    return float(np.asarray(getattr(optimizer, "_d", None) if hasattr(optimizer, "_d")
                            else optimizer._eta))  # noqa: SLF001  (DoG, DoWG: eta)


@pytest.mark.parametrize("cls", [Prodigy, DAdaptAdam, DoG, keras_lr.optimizers.DoWG])
def test_schedule_save_load_and_logger(fresh_session, tmp_path, cls):
    schedule = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=20)
    sgd_like = cls in (DoG, keras_lr.optimizers.DoWG)
    optimizer = cls(schedule) if sgd_like else cls(schedule, use_bias_correction=True)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    logger = keras_lr.callbacks.LearningRateLogger()
    model.fit(X[:10].reshape(-1, 5), Y[:10].reshape(-1, 1), batch_size=16, epochs=1,
              verbose=0, callbacks=[logger])
    d = _estimate(optimizer)
    expected = d if sgd_like else d * float(schedule(9))
    np.testing.assert_allclose(logger.history["effective_learning_rate"][-1], expected,
                               rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, cls)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    np.testing.assert_allclose(_estimate(loaded.optimizer), d)
    for a, b in zip(loaded.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_no_gradient_takes_no_step(fresh_session):
    # A zero gradient everywhere: sum |s| = 0, the estimate and the weights stay.
    optimizer = Prodigy()
    variable = keras.Variable(np.ones((3,), "float32"))
    optimizer.apply([np.zeros((3,), "float32")], [variable])
    np.testing.assert_array_equal(variable.numpy(), np.ones(3))
    assert optimizer._d.numpy() == np.float32(1e-6)  # noqa: SLF001


@pytest.mark.parametrize("cls", [Prodigy, DAdaptAdam, DoG])
def test_a_nan_gradient_skips_the_step(fresh_session, cls):
    optimizer = cls()
    variable = keras.Variable(np.ones((3,), "float32"))
    optimizer.apply([np.array([1.0, -2.0, 0.5], "float32")], [variable])
    before = [np.asarray(v).copy() for v in optimizer.variables if "iteration" not in v.path]
    weights = variable.numpy().copy()
    optimizer.apply([np.array([np.nan, 1.0, 1.0], "float32")], [variable])
    np.testing.assert_array_equal(variable.numpy(), weights)
    after = [np.asarray(v) for v in optimizer.variables if "iteration" not in v.path]
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(_estimate(optimizer))
    optimizer.apply([np.array([1.0, -2.0, 0.5], "float32")], [variable])
    assert not np.array_equal(variable.numpy(), weights)  # and training goes on


def test_errors():
    for kwargs, match in [(dict(beta_1=1.0), "Argument `beta_1` must be"),
                          (dict(d0=0.0), "Argument `d0` must be > 0"),
                          (dict(growth_rate=1.0), "Argument `growth_rate` must be"),
                          (dict(slice_p=0), "Argument `slice_p` must be"),
                          (dict(clipnorm=1.0), "does not support `clipnorm`")]:
        with pytest.raises(ValueError, match=match):
            Prodigy(**kwargs)
    for cls, kwargs, match in [(DAdaptAdam, dict(beta_2=-0.1), "Argument `beta_2` must be"),
                               (DAdaptAdam, dict(gradient_accumulation_steps=2),
                                "does not support `gradient_accumulation_steps`"),
                               (DoG, dict(reps_rel=0.0), "Argument `reps_rel` must be > 0"),
                               (DoG, dict(initial_step_size=-1.0),
                                "Argument `initial_step_size` must be > 0")]:
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)
    with pytest.raises(ValueError, match="Hypergradient does not wrap Prodigy"):
        keras_lr.optimizers.Hypergradient(Prodigy())


@pytest.mark.parametrize("cls", [Prodigy, DAdaptAdam, DoG, keras_lr.optimizers.DoWG,
                                 keras_lr.optimizers.ScheduleFreeAdamW,
                                 keras_lr.optimizers.ScheduleFreeSGD])
def test_mixed_precision(fresh_session, cls):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8),
                                  keras.layers.Dense(1, dtype="float32")])
        model.compile(cls(), "mse")
        before = [w.copy() for w in model.get_weights()]
        model.fit(X[:20].reshape(-1, 5), Y[:20].reshape(-1, 1), batch_size=16, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inner = model.optimizer.inner_optimizer
    assert isinstance(inner, cls)
    if hasattr(inner, "effective_learning_rate"):
        estimate = float(np.asarray(inner.effective_learning_rate()))
        assert np.isfinite(estimate) and estimate > 0
    if cls is Prodigy:
        assert inner._d.numpy() > 1e-6  # noqa: SLF001  (the estimate grew)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


@pytest.mark.parametrize("make", [
    Prodigy, DAdaptAdam, DoG, keras_lr.optimizers.DoWG,
    lambda: keras_lr.optimizers.Mechanic(keras.optimizers.Adam(1e-2), s_init=1e-3),
], ids=["prodigy", "dadapt_adam", "dog", "dowg", "mechanic"])
def test_backup_and_restore_resume_is_exact(fresh_session, digits, tmp_path, make):
    from tests.digits import crash_and_resume
    from tests.digits import digits_mlp
    from tests.digits import weights

    def model(seed):
        net = digits_mlp(seed=seed)
        net.compile(make(), net.loss)
        return net

    whole, resumed = crash_and_resume(model, digits[0][:128], digits[1][:128],
                                      str(tmp_path / "backup"), epochs=3)
    for a, b in zip(weights(resumed), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    optimizer = whole.optimizer
    for a, b in zip(resumed.optimizer.variables, optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert float(np.asarray(optimizer.iterations)) == 12


def test_a_frozen_layer_matches_a_parameter_group_at_lr_0(fresh_session):
    optimizer = Prodigy()
    model = small_net()
    model.compile(keras_lr.optimizers.LRMultiplier(optimizer, {"hidden": 0.0}), "mse")
    for i in range(STEPS):
        model.train_on_batch(X[i], Y[i])
    # prodigyopt with the first layer in a parameter group at `lr=0`.
    d, reference = _torch_run(groups=lambda net: [{"params": net[0].parameters(), "lr": 0.0},
                                                  {"params": net[2].parameters()}])
    np.testing.assert_allclose(float(optimizer._d.numpy()), d, rtol=1e-4)  # noqa: SLF001
    for ours_w, ref_w in zip(model.get_weights(), reference):
        np.testing.assert_allclose(ours_w, ref_w, atol=1e-3 * np.max(np.abs(ref_w)))
    np.testing.assert_array_equal(model.get_weights()[0], WEIGHTS[0])  # frozen
    assert d > 5e-6


@pytest.mark.parametrize("cls", [
    lambda: Prodigy(d0=1e-3), lambda: DAdaptAdam(d0=1e-3), DoG, keras_lr.optimizers.DoWG,
    keras_lr.optimizers.ScheduleFreeAdamW, keras_lr.optimizers.ScheduleFreeSGD,
], ids=["prodigy", "dadapt_adam", "dog", "dowg", "sf_adamw", "sf_sgd"])
def test_a_multiplier_scales_the_layers_step(fresh_session, cls):
    def first_step(multipliers):
        model = small_net()
        optimizer = cls()
        model.compile(keras_lr.optimizers.LRMultiplier(optimizer, multipliers)
                      if multipliers else optimizer, "mse")
        model.train_on_batch(X[0], Y[0])
        estimate = (float(np.asarray(optimizer.effective_learning_rate()))
                    if hasattr(optimizer, "effective_learning_rate") else None)
        return [w - w0 for w, w0 in zip(model.get_weights(), WEIGHTS)], estimate

    plain, plain_estimate = first_step(None)
    scaled, estimate = first_step({"hidden": 0.25})
    assert estimate == plain_estimate  # one shared estimate, as without multipliers
    for i, (ours, base) in enumerate(zip(scaled, plain)):
        assert np.max(np.abs(base)) > 0
        # To float32 rounding of the weights.
        ulp = np.finfo("float32").eps * max(1.0, np.max(np.abs(WEIGHTS[i])))
        np.testing.assert_allclose(ours, (0.25 if i < 2 else 1.0) * base, rtol=1e-5,
                                   atol=2 * ulp)


@pytest.mark.parametrize("name", ["Prodigy", "DAdaptAdam", "DoG", "DoWG"])
def test_a_learning_rate_as_for_adam_warns(name):
    # Their `learning_rate` multiplies the step they estimate: 1e-3 (Adam's
    # habit) takes 1000x smaller steps and trains nothing, silently.
    import warnings

    cls = getattr(keras_lr.optimizers, name)
    with pytest.warns(UserWarning, match=r"1,000x smaller steps.*learning_rate=0.001"):
        cls(learning_rate=1e-3)
    with pytest.warns(UserWarning, match=r"20x larger steps"):
        cls(learning_rate=20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cls(learning_rate=0.5)
        cls()
        keras_lr.optimizers.ScheduleFreeAdamW(learning_rate=1e-3)  # a real step size
