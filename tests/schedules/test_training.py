"""The schedules inside real `model.fit` runs: the learning rate applied by
the optimizer (measured from the weight update, see `tests/probe.py`) equals
the schedule, through compilation modes, save/load, resume and distribution.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr import schedules as S
from tests import probe

STEPS_PER_EPOCH = 8
EPOCHS = 3
TOTAL = STEPS_PER_EPOCH * EPOCHS
BATCH = 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCHEDULES = {
    "triangular": lambda: S.TriangularCyclicalLearningRate(0.01, 0.1, 5),
    "triangular2_asym": lambda: S.Triangular2CyclicalLearningRate(
        0.01, 0.1, 3, step_size_down=5),
    "exp_range": lambda: S.ExponentialCyclicalLearningRate(0.01, 0.1, 4, gamma=0.97),
    "custom_scale_fn": lambda: S.CyclicalLearningRate(
        0.01, 0.1, 4, scale_fn=probe.sqrt_cycle_decay),
    "one_cycle": lambda: S.OneCycle(0.1, TOTAL),
    "one_cycle_3phase_linear": lambda: S.OneCycle(
        0.1, TOTAL, three_phase=True, anneal_strategy="linear"),
    "one_cycle_momentum": lambda: S.OneCycleMomentum(TOTAL),
    "warmup_one_cycle": lambda: S.Warmup(S.OneCycle(0.1, 16), 8, shape="cosine"),
    "warmup_keras_cosine_global": lambda: S.Warmup(
        keras.optimizers.schedules.CosineDecay(0.1, TOTAL), 8, local_step=False),
    "join_nested": lambda: S.Join(
        [S.Warmup(0.05, 4, initial_learning_rate=1e-3, shape="exponential"),
         S.OneCycle(0.1, 10),
         S.Triangular2CyclicalLearningRate(0.01, 0.05, 2)],
        boundaries=[4, 14]),
}


def _fit(model, steps, callbacks=(), epochs=1, initial_epoch=0):
    x, y = probe.probe_data(steps)
    recorder = probe.KernelRecorder()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch,
              shuffle=False, verbose=0, callbacks=[recorder, *callbacks])
    return recorder.records


def _assert_lrs(applied, expected):
    np.testing.assert_allclose(applied, expected, rtol=1e-4, atol=2e-7)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_applied_learning_rate_equals_schedule(name, fresh_session):
    schedule = SCHEDULES[name]()
    model = probe.probe_model(schedule)
    records = _fit(model, TOTAL)
    assert [it for it, _ in records] == list(range(1, TOTAL + 1))
    _assert_lrs(probe.applied_learning_rates(records),
                S.schedule_values(schedule, TOTAL))


@pytest.mark.needs_steps_per_execution
@pytest.mark.parametrize("name", ["one_cycle", "join_nested", "exp_range"])
def test_steps_per_execution(name, fresh_session):
    schedule = SCHEDULES[name]()
    model = probe.probe_model(schedule, steps_per_execution=4)
    records = _fit(model, TOTAL)
    # Batch hooks fire once per execution of 4 steps (documented Keras
    # behaviour); each record holds the sum of 4 applied learning rates.
    assert [it for it, _ in records] == list(range(4, TOTAL + 1, 4))
    expected = S.schedule_values(schedule, TOTAL).reshape(-1, 4).sum(axis=1)
    _assert_lrs(probe.applied_learning_rates(records), expected)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", ["one_cycle", "join_nested", "triangular2_asym",
                                  "warmup_keras_cosine_global"])
def test_jit_compile(name, fresh_session):
    schedule = SCHEDULES[name]()
    model = probe.probe_model(schedule, jit_compile=True)
    records = _fit(model, TOTAL)
    _assert_lrs(probe.applied_learning_rates(records),
                S.schedule_values(schedule, TOTAL))


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", ["one_cycle", "join_nested", "custom_scale_fn"])
def test_mirrored_strategy_on_two_logical_cpus(name, mirrored_strategy, fresh_session):
    strategy = mirrored_strategy
    schedule = SCHEDULES[name]()
    with strategy.scope():
        model = probe.probe_model(schedule)
    records = _fit(model, TOTAL)
    _assert_lrs(probe.applied_learning_rates(records),
                S.schedule_values(schedule, TOTAL))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_keras_save_and_load_continues_schedule(name, tmp_path, fresh_session):
    schedule = SCHEDULES[name]()
    model = probe.probe_model(schedule)
    first = _fit(model, TOTAL // 2)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    lr = restored.optimizer._learning_rate
    assert type(lr) is type(schedule)
    assert lr.get_config() == schedule.get_config()
    second = _fit(restored, TOTAL // 2)
    assert second[0][0] == TOTAL // 2 + 1
    applied = probe.applied_learning_rates(first + second)
    _assert_lrs(applied, S.schedule_values(schedule, TOTAL))


def test_lambda_scale_fn_fails_at_save_not_at_load(tmp_path, fresh_session):
    with pytest.warns(UserWarning, match="cannot be saved"):
        schedule = S.CyclicalLearningRate(0.01, 0.1, 4, scale_fn=lambda x: 1.0)
    model = probe.probe_model(schedule)
    _fit(model, 4)  # training with a lambda is fine
    path = tmp_path / "model.keras"
    with pytest.raises(ValueError, match="scale_fn.*lambda"):
        model.save(path)
    # Keras opens the file before serializing, so an empty archive is left;
    # it is refused at load time rather than loading a broken schedule.
    with pytest.raises(ValueError):
        keras.saving.load_model(path)


class _InterruptAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated preemption")


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_backup_and_restore_resumes_same_sequence(name, tmp_path, fresh_session):
    schedule = SCHEDULES[name]()
    reference = _fit(probe.probe_model(schedule), STEPS_PER_EPOCH, epochs=EPOCHS)
    assert len(reference) == TOTAL

    backup = str(tmp_path / "backup")
    interrupted = probe.probe_model(SCHEDULES[name]())
    with pytest.raises(RuntimeError, match="simulated preemption"):
        _fit(interrupted, STEPS_PER_EPOCH, epochs=EPOCHS, callbacks=[
            keras.callbacks.BackupAndRestore(backup), _InterruptAtEpoch(2)])

    resumed_model = probe.probe_model(SCHEDULES[name]())  # a fresh process would build this
    resumed = _fit(resumed_model, STEPS_PER_EPOCH, epochs=EPOCHS,
                   callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert [it for it, _ in resumed] == [it for it, _ in reference[2 * STEPS_PER_EPOCH:]]
    np.testing.assert_allclose(
        [k for _, k in resumed], [k for _, k in reference[2 * STEPS_PER_EPOCH:]],
        rtol=1e-6, atol=1e-7,
    )


_LOADER = """
import json, sys
import keras
import keras_lr  # registers keras_lr's classes
from tests import probe
out = {}
for name, path in json.loads(sys.argv[1]).items():
    model = keras.saving.load_model(path)
    start = probe.kernel_value(model)
    x, y = probe.probe_data(%(steps)d)
    recorder = probe.KernelRecorder()
    model.fit(x, y, batch_size=%(batch)d, shuffle=False, verbose=0, callbacks=[recorder])
    out[name] = probe.applied_learning_rates(recorder.records, start).tolist()
print("RESULT=" + json.dumps(out))
"""


def test_load_in_fresh_process_continues_every_schedule(tmp_path, fresh_session):
    paths, expected = {}, {}
    for name, make in SCHEDULES.items():
        schedule = make()
        model = probe.probe_model(schedule)
        _fit(model, TOTAL // 2)
        paths[name] = str(tmp_path / f"{name}.keras")
        model.save(paths[name])
        expected[name] = S.schedule_values(schedule, TOTAL)[TOTAL // 2:]
    code = _LOADER % {"steps": TOTAL // 2, "batch": BATCH}
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(paths)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT=")][-1]
    applied = json.loads(line[len("RESULT="):])
    assert set(applied) == set(SCHEDULES)
    for name in SCHEDULES:
        _assert_lrs(applied[name], expected[name])


def test_schedules_are_registered_under_keras_lr():
    for name in ["CyclicalLearningRate", "TriangularCyclicalLearningRate",
                 "Triangular2CyclicalLearningRate", "ExponentialCyclicalLearningRate",
                 "OneCycle", "OneCycleMomentum", "Warmup", "Join"]:
        cls = getattr(keras_lr.schedules, name)
        assert keras.saving.get_registered_name(cls) == f"keras_lr>{name}"
        assert keras.saving.get_registered_object(f"keras_lr>{name}") is cls
