"""Schedule-Free AdamW / SGD against `schedulefree` 1.4.1's reference
classes (PyTorch 2.13.0 CPU), and the evaluation point `x` through
validation, `evaluate`, `ModelCheckpoint`, `model.save` and a resume."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.callbacks import ScheduleFreeEval
from keras_lr.optimizers import ScheduleFreeAdamW
from keras_lr.optimizers import ScheduleFreeSGD
from tests.optimizers.test_lr_free import WEIGHTS
from tests.optimizers.test_lr_free import X
from tests.optimizers.test_lr_free import Y
from tests.optimizers.test_lr_free import _keras_run

torch = pytest.importorskip("torch")
schedulefree = pytest.importorskip("schedulefree")


def _torch_run(reference, steps=100, **kwargs):
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(WEIGHTS[0].T))
        net[0].bias.copy_(torch.tensor(WEIGHTS[1]))
        net[2].weight.copy_(torch.tensor(WEIGHTS[2].T))
        net[2].bias.copy_(torch.tensor(WEIGHTS[3]))
    optimizer = reference(net.parameters(), **kwargs)
    optimizer.train()
    for i in range(steps):
        optimizer.zero_grad()
        loss = ((net(torch.tensor(X[i])) - torch.tensor(Y[i])) ** 2).mean()
        loss.backward()
        optimizer.step()

    def weights():
        return [net[0].weight.detach().numpy().T.copy(), net[0].bias.detach().numpy().copy(),
                net[2].weight.detach().numpy().T.copy(), net[2].bias.detach().numpy().copy()]

    y = weights()
    optimizer.eval()
    return y, weights()


def _close(ours, theirs, tolerance=1e-5):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=tolerance * np.max(np.abs(b)))


@pytest.mark.parametrize("cls,reference,ours,theirs", [
    (ScheduleFreeAdamW, "AdamWScheduleFreeReference", {}, {}),
    (ScheduleFreeAdamW, "AdamWScheduleFreeReference",
     dict(learning_rate=0.01, warmup_steps=20, weight_decay=0.01, r=1.0),
     dict(lr=0.01, warmup_steps=20, weight_decay=0.01, r=1.0)),
    (ScheduleFreeAdamW, "AdamWScheduleFreeReference",
     dict(weight_decay=0.05, decay_at_z=True, weight_lr_power=1.0, beta_1=0.95),
     dict(weight_decay=0.05, decay_at_z=True, weight_lr_power=1.0, betas=(0.95, 0.999))),
    (ScheduleFreeSGD, "SGDScheduleFreeReference", dict(learning_rate=0.05),
     dict(lr=0.05)),
    (ScheduleFreeSGD, "SGDScheduleFreeReference",
     dict(learning_rate=0.05, momentum=0.8, weight_decay=0.01, warmup_steps=10),
     dict(lr=0.05, momentum=0.8, weight_decay=0.01, warmup_steps=10)),
], ids=["adamw", "adamw_warmup_decay_r", "adamw_decay_at_z", "sgd", "sgd_options"])
def test_matches_the_reference_after_100_steps(fresh_session, cls, reference, ours, theirs):
    optimizer = cls(**ours)
    model, y = _keras_run(optimizer)
    ref_y, ref_x = _torch_run(getattr(schedulefree, reference), **theirs)
    _close(y, ref_y)                      # the training point, in the model
    optimizer.use_evaluation_point(model)
    _close([v.numpy() for v in model.weights], ref_x)  # the average x
    optimizer.use_training_point(model)
    for a, b in zip([v.numpy() for v in model.weights], y):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # back at y


def _digits_model(seed=0):
    from tests.digits import load_digits

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(ScheduleFreeAdamW(0.01), "sparse_categorical_crossentropy")
    x, y = load_digits()
    return model, x[:512], y[:512]


def _x_of(model):
    optimizer = model.optimizer
    return [optimizer._x[optimizer.index(v)].numpy() for v in model.trainable_variables]  # noqa: SLF001


def test_validation_evaluate_and_save_see_x(fresh_session, tmp_path):
    model, x, y = _digits_model()
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            seen.append([v.numpy().copy() for v in self.model.trainable_variables])

    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.keras"))
    history = model.fit(x, y, batch_size=64, epochs=2, validation_data=(x[:128], y[:128]),
                        verbose=0, callbacks=[ScheduleFreeEval(), Watch(), checkpoint])
    # Validation ran at x: the recorded weights are the average, and the
    # reported val_loss is the loss there.
    at_x = _x_of(model)
    for a, b in zip(seen[-1], at_x):
        np.testing.assert_array_equal(a, b)
    # After fit the model holds x: evaluate, predict and save see it.
    for a, b in zip([v.numpy() for v in model.trainable_variables], at_x):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.evaluate(x[:128], y[:128], verbose=0),
                               history.history["val_loss"][-1], rtol=1e-5)
    saved = keras.saving.load_model(tmp_path / "ckpt.keras")   # ModelCheckpoint: x
    for a, b in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "final.keras")
    loaded = keras.saving.load_model(tmp_path / "final.keras")
    for a, b in zip([v.numpy() for v in loaded.trainable_variables], at_x):
        np.testing.assert_array_equal(a, b)


def test_resume_with_backup_and_restore_is_exact(fresh_session, tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("crash")

    def fit(model, x, y, extra):
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        model.fit(x, y, batch_size=64, epochs=4, shuffle=False, verbose=0,
                  callbacks=[ScheduleFreeEval(), backup, *extra])

    whole, x, y = _digits_model()
    fit(whole, x, y, [])
    crashed, _, _ = _digits_model()
    with pytest.raises(RuntimeError, match="crash"):
        fit(crashed, x, y, [Crash()])
    resumed, _, _ = _digits_model(seed=1)
    fit(resumed, x, y, [])
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_errors(fresh_session, tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="needs a Schedule-Free optimizer"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0, callbacks=[ScheduleFreeEval()])
    model.compile(ScheduleFreeSGD(0.1), "mse")
    with pytest.raises(ValueError, match="must stand before"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(str(tmp_path / "b")), ScheduleFreeEval()])
    with pytest.raises(ValueError, match="Argument `momentum` must be"):
        ScheduleFreeSGD(momentum=1.0)
    with pytest.raises(ValueError, match="Argument `warmup_steps` must be"):
        ScheduleFreeAdamW(warmup_steps=-1)
    assert keras_lr.callbacks.ScheduleFreeEval().get_config() == {
        "batchnorm_batches": 50, "batch_size": 32}


def _batchnorm_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(6, name="features"),
                              keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Activation("relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(ScheduleFreeAdamW(0.01), "sparse_categorical_crossentropy")
    return model


def test_batchnorm_statistics_are_recomputed_at_x(fresh_session):
    from tests.digits import load_digits

    x, y = load_digits()
    x, y = x[:256], y[:256]
    model = _batchnorm_model()
    callback = ScheduleFreeEval(batchnorm_data=(x, y), batchnorm_batches=5, batch_size=40)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    # The model holds x; by hand: the batch statistics of the BN input at x
    # over the first 5 batches of 40, averaged.
    np.testing.assert_allclose(model.get_layer("features").get_weights()[0], _x_of(model)[0])
    kernel, bias = model.get_layer("features").get_weights()
    means, variances = [], []
    for start in range(0, 200, 40):
        h = x[start:start + 40].astype("float64") @ kernel + bias
        means.append(h.mean(axis=0))
        variances.append(h.var(axis=0))
    bn = model.get_layer("bn")
    np.testing.assert_allclose(np.asarray(bn.moving_mean), np.mean(means, axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), np.mean(variances, axis=0),
                               rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.99  # restored
    # Without the recomputation the statistics are y's momentum average.
    plain = _batchnorm_model()
    plain.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[ScheduleFreeEval()])
    assert not np.allclose(np.asarray(plain.get_layer("bn").moving_mean),
                           np.mean(means, axis=0), rtol=1e-2)


def test_batchnorm_recomputation_from_a_dataset_and_the_warning(fresh_session, capsys):
    from keras_lr.callbacks.schedule_free_eval import recompute_batchnorm_statistics
    from tests.digits import load_digits

    x, y = load_digits()
    model = _batchnorm_model()
    model.fit(x[:64], y[:64], batch_size=32, verbose=0, callbacks=[ScheduleFreeEval()])
    assert "BatchNormalization layers" in capsys.readouterr().out
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    assert recompute_batchnorm_statistics(model, batches, batches=3) == 3
    kernel, bias = model.get_layer("features").get_weights()
    expected = np.mean([(b[0] @ kernel + bias).mean(axis=0) for b in batches[:3]], axis=0)
    np.testing.assert_allclose(np.asarray(model.get_layer("bn").moving_mean), expected,
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="at least one batch"):
        recompute_batchnorm_statistics(model, [])
    with pytest.raises(ValueError, match="Argument `batchnorm_batches` must be"):
        ScheduleFreeEval(batchnorm_data=x, batchnorm_batches=0)


def test_batchnorm_resume_with_backup_and_restore_is_exact(fresh_session, tmp_path):
    from tests.digits import load_digits

    x, y = load_digits()
    x, y = x[:256], y[:256]

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("crash")

    def fit(model, extra):
        model.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0, callbacks=[
            ScheduleFreeEval(batchnorm_data=x, batchnorm_batches=2),
            keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), *extra])

    whole = _batchnorm_model()
    fit(whole, [])
    with pytest.raises(RuntimeError, match="crash"):
        fit(_batchnorm_model(), [Crash()])
    resumed = _batchnorm_model(seed=1)
    fit(resumed, [])
    # Weights and the moving statistics (recomputed at x, then trained on).
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
