"""Tiny runs for the contract suite: one model, one data set, one way to
train it under each configuration, and the trace two runs are compared by.

A run is 4 epochs of 4 steps (64 rows, batch 16) of a 4-8-1 MLP; the crash
comes at the end of epoch 2 (index 1). The trace of a run is what a user
could tell apart: after every epoch the weights, the learning rate the next
step uses, the logs and the component's own state.
"""

import contextlib
import dataclasses
import math
import os

import keras
import numpy as np

from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.snapshot import non_finite_weights

ROWS, BATCH, EPOCHS, CRASH_EPOCH = 64, 16, 4, 1
STEPS = ROWS // BATCH
TOTAL_STEPS = STEPS * EPOCHS
BAD_ROW = 21  # in the second batch of every epoch (no shuffling)
BAD_DATA = ("inf_x", "nan_x", "nan_y", "nan_sample_weight")

# ---- data and model ---------------------------------------------------------------


def make_data(bad=None):
    """`(x, y, sample_weight)`; `bad` puts one bad row in (see `BAD_DATA`)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [1.5]]) + 0.1 * rng.normal(size=(ROWS, 1)))
    y = y.astype("float32")
    sample_weight = None
    if bad == "inf_x":
        x[BAD_ROW] = np.inf
    elif bad == "nan_x":
        x[BAD_ROW] = np.nan
    elif bad == "nan_y":
        y[BAD_ROW] = np.nan
    elif bad == "nan_sample_weight":
        sample_weight = np.ones(ROWS, "float32")
        sample_weight[BAD_ROW] = np.nan
    elif bad is not None:
        raise ValueError(bad)
    return x, y, sample_weight


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu", name="body"),
        keras.layers.Dense(1, name="head"),
    ], name="net")


# ---- learning rates ------------------------------------------------------------------

RATES = ("float", "keras_schedule", "keras_lr_schedule", "lr_free")


def rate_value(rate, base):
    """The learning rate `rate` stands for, around `base` (its peak)."""
    from keras_lr import schedules

    if rate == "float":
        return base
    if rate == "keras_schedule":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=TOTAL_STEPS)
    if rate == "keras_lr_schedule":
        return schedules.OneCycle(base, total_steps=TOTAL_STEPS)
    raise ValueError(rate)


def base_optimizer(rate, **kwargs):
    """The optimizer a callback's run trains with."""
    from keras_lr import optimizers

    if rate == "lr_free":
        return optimizers.Prodigy(**kwargs)
    return keras.optimizers.SGD(rate_value(rate, 0.05), momentum=0.9, **kwargs)


# ---- configurations ------------------------------------------------------------------

EXECUTIONS = ("plain", "steps_per_execution", "gradient_accumulation", "mixed_float16",
              "multi_optimizer", "jit_compile", "distribute", "custom_loop")


@dataclasses.dataclass(frozen=True)
class Case:
    """One question asked of one component under one configuration."""

    entry: object
    question: str = "resume_before"
    rate: str = "float"
    execution: str = "plain"

    @property
    def id(self):
        return f"{self.entry.name}-{self.question}-{self.rate}-{self.execution}"

    def __str__(self):
        return self.id


@contextlib.contextmanager
def policy(case):
    if case.execution != "mixed_float16":
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _strategy_scope(case):
    if case.execution != "distribute":
        return contextlib.nullcontext()
    from tests.strategy import shared_strategy

    return shared_strategy().scope()


def build(case, seed=0):
    """The compiled model of a run of `case` (weights from `seed`)."""
    kwargs = {}
    if case.execution == "gradient_accumulation":
        kwargs["gradient_accumulation_steps"] = 2
    with policy(case), _strategy_scope(case):
        model = make_model(seed)
        optimizer = case.entry.optimizer(case.rate, kwargs)
        if case.execution == "multi_optimizer":
            # The component's optimizer for the head, an SGD for the rest;
            # an OptimizerMap (not a function) so that the model saves.
            optimizer = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
                default_optimizer=keras.optimizers.SGD(0.02, name="body_sgd"),
                optimizer_map={".*head/.*": optimizer}))
        compile_kwargs = {}
        if case.execution == "steps_per_execution":
            compile_kwargs["steps_per_execution"] = 2
        if case.execution == "jit_compile":
            compile_kwargs["jit_compile"] = True
        model.compile(optimizer=optimizer, loss="mse", **compile_kwargs)
    return model


# ---- traces ----------------------------------------------------------------------------


def weights(model):
    return [np.array(keras.ops.convert_to_numpy(v), dtype="float64") for v in model.weights]


def current_rates(model):
    """The learning rate(s) the next step uses (one per sub-optimizer)."""
    optimizer = model.optimizer
    optimizers = getattr(optimizer, "optimizers", None) or [optimizer]
    rates = []
    for o in optimizers:
        try:
            rates.append(LearningRate(o).current(model))
        except Exception:  # noqa: BLE001 - a rate that is not a number is not compared
            rates.append(math.nan)
    return rates


class Observer(keras.callbacks.Callback):
    """Records the trace of a run after every epoch (it only reads)."""

    def __init__(self, component=None, state=None):
        super().__init__()
        self.component = component
        self.state = state
        self.epochs = {}

    def on_epoch_end(self, epoch, logs=None):
        keras_lr_sync(self.model)
        record = {
            "weights": weights(self.model),
            "rates": current_rates(self.model),
            "logs": {k: float(np.asarray(v)) for k, v in (logs or {}).items()
                     if np.ndim(v) == 0},
        }
        if self.state is not None and self.component is not None:
            record["state"] = self.state(self.component)
        self.epochs[epoch] = record


def keras_lr_sync(model):
    from keras_lr._core import keras_private

    keras_private.jax_state_sync(model)


class CopyAtCrash(keras.callbacks.Callback):
    """Listed after a `BackupAndRestore`: copies its backup as a crash at the
    end of epoch `CRASH_EPOCH` would leave it (the run itself goes on)."""

    def __init__(self, backup, copy):
        super().__init__()
        self.backup, self.copy = backup, copy

    def on_epoch_end(self, epoch, logs=None):
        if epoch == CRASH_EPOCH:
            import shutil

            shutil.copytree(self.backup, self.copy)


def fit(model, callbacks, epochs=EPOCHS, bad=None, initial_epoch=0):
    x, y, sample_weight = make_data(bad)
    return model.fit(x, y, sample_weight=sample_weight, batch_size=BATCH, epochs=epochs,
                     initial_epoch=initial_epoch, shuffle=False, verbose=0,
                     callbacks=callbacks)


def assert_same_epoch(a, b, where, rtol=1e-5, atol=1e-6, skip_logs=()):
    """Two epoch records are the same (weights, rates, logs, state)."""
    for i, (u, v) in enumerate(zip(a["weights"], b["weights"])):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol,
                                   err_msg=f"{where}: weight {i}")
    np.testing.assert_allclose(a["rates"], b["rates"], rtol=1e-5, atol=1e-9,
                               err_msg=f"{where}: learning rate")
    for key in sorted(set(a["logs"]) & set(b["logs"]) - set(skip_logs)):
        np.testing.assert_allclose(a["logs"][key], b["logs"][key], rtol=1e-4, atol=1e-6,
                                   err_msg=f"{where}: logs[{key!r}]")
    if "state" in a or "state" in b:
        assert a.get("state") == pytest_approx(b.get("state")), (
            f"{where}: state {a.get('state')} != {b.get('state')}")


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=1e-5, abs=1e-7, nan_ok=True)


def finite_weights(model):
    return not non_finite_weights(model)


def temporary_backup(tmp_path, name="backup"):
    return os.fspath(tmp_path / name)
