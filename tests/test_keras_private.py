"""Every private Keras / keras-tuner name keras-lr uses still means what it did.

`keras_lr._core.keras_private` is the only module that touches them; each
test here exercises one against the installed release, so that a Keras
release that moves or changes one fails here, by name.
"""

import ast
import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_lr._core import keras_private as kp

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_lr"


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, weight_decay=0.01), loss="mse",
                  metrics=["mae", keras.metrics.AUC(name="auc")])
    return model


def test_learning_rate_slot_and_untrack(fresh_session):
    optimizer = keras.optimizers.Adam(0.5)
    assert isinstance(kp.learning_rate_slot(optimizer), keras.Variable)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    kp.set_learning_rate_slot(optimizer, schedule)
    assert kp.learning_rate_slot(optimizer) is schedule
    optimizer2 = keras.optimizers.Adam(0.5)
    variable = kp.learning_rate_slot(optimizer2)
    assert any(v is variable for v in optimizer2.variables)
    kp.untrack_variable(optimizer2, variable)
    assert not any(v is variable for v in optimizer2.variables)


def test_optimizer_internals(fresh_session):
    model = _model()
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    variables = kp.trainable_variables(optimizer)
    assert [v.path for v in variables] == [v.path for v in model.trainable_variables]
    assert [kp.variable_index(optimizer, v) for v in variables] == [0, 1]
    assert kp.use_weight_decay(optimizer, variables[0])
    kp.check_variables_are_known(optimizer, variables)
    grads = [ops.ones(v.shape) for v in variables]
    filtered, kept = kp.filter_empty_gradients(optimizer, [grads[0], None], variables)
    assert len(filtered) == len(kept) == 1
    grads2, vars2 = kp.overwrite_variables_with_gradients(optimizer, grads, variables)
    assert len(grads2) == 2
    clipped = kp.clip_gradients(keras.optimizers.SGD(clipvalue=0.5), [ops.ones((2,))])
    np.testing.assert_allclose(ops.convert_to_numpy(clipped[0]), [0.5, 0.5])
    before = [ops.convert_to_numpy(v).copy() for v in variables]
    kp.backend_update_step(optimizer, grads, variables, 0.1)
    for b, v in zip(before, variables):
        np.testing.assert_allclose(ops.convert_to_numpy(v), b - 0.1, rtol=1e-6)


def test_model_internals(fresh_session):
    model = _model()
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, epochs=1, verbose=0, batch_size=4)
    total, count = kp.loss_tracker_totals(model)
    assert count == 4 and total > 0 and kp.has_loss_tracker(model)
    kp.jax_state_sync(model)  # a no-op outside JAX; must not raise
    assert [layer.name for layer in kp.flatten_layers(model)][-1] == "d"
    assert kp.metric_direction(model, "auc") == "up"
    assert kp.metric_direction(model, "mae") == "down"
    assert kp.metric_direction(model, "nope") is None


def test_symbolic_build(fresh_session):
    model = keras.Sequential([keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    assert not model.built
    kp.symbolic_build(model, (np.ones((4, 3), "float32"), np.ones((4, 2), "float32")))
    assert model.built and model.optimizer.built
    assert kp.compiled_metrics(model) is None or not kp.compiled_metrics(model).variables
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    kp.symbolic_build(model, (np.ones((4, 3), "float32"), np.ones((4, 2), "float32")))
    metrics = kp.compiled_metrics(model)
    state = metrics.stateless_update_state([v.value for v in metrics.variables],
                                           np.ones((4, 2), "float32"),
                                           np.zeros((4, 2), "float32"), None)
    assert float(metrics.stateless_result(state)["mae"]) == 1.0


def test_compile_arguments_and_epoch_batches(fresh_session):
    model = _model()
    assert kp.compile_arguments(model)["loss"] == model.loss
    assert kp.compile_arguments(keras.Sequential([keras.layers.Dense(1)])) is None
    x, y = np.ones((100, 3), "float32"), np.zeros((100, 2), "float32")
    assert kp.epoch_batches(x, y, batch_size=32) == 4
    assert kp.epoch_batches(x, y, batch_size=32, validation_split=0.25) == 3  # 75 rows
    assert kp.epoch_batches(x, y, steps_per_epoch=7) == 7
    (xt, _, _), (xv, _, _) = kp.split_for_validation(x, y, None, 0.2)
    assert (len(xt), len(xv)) == (80, 20)


def test_model_building_and_fit_from_epoch_zero(fresh_session, tmp_path):
    seen = []

    class Look(keras.optimizers.SGD):
        def build(self, variables):
            seen.append(kp.model_building(self))
            super().build(variables)

    model = _model()
    model.compile(optimizer=Look(0.1), loss="mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    assert seen == [model]
    Look(0.1).build(model.trainable_variables)
    assert seen[-1] is None
    # BackupAndRestore's resume leaves `_initial_epoch` set for every later fit.
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq="epoch",
                                              delete_checkpoint=False)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
    assert not model.fit(x, y, epochs=1, verbose=0).history  # starts at epoch 2
    with kp.fit_from_epoch_zero(model):
        assert model.fit(x, y, epochs=1, verbose=0).history["loss"]
    assert not model.fit(x, y, epochs=1, verbose=0).history  # put back


def test_calling_callback_list():
    seen = []

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(kp.calling_callback_list(self))

    look = Look()
    callbacks = keras.callbacks.CallbackList([look])
    callbacks.on_train_begin()
    assert seen == [callbacks]
    look.on_train_begin()
    assert seen[-1] is None


def test_keras_saveable_and_print_msg(capsys):
    assert hasattr(kp.KerasSaveable, "_obj_type")
    kp.print_msg("hello from keras-lr")
    assert "hello from keras-lr" in capsys.readouterr().out


def test_tuner_values_hash_hook():
    kt = pytest.importorskip("keras_tuner")

    class Oracle(kp.HashedValuesMixin, kt.Oracle):
        def values_for_hash(self, values):
            values.pop("ignored", None)
            return values

    oracle = Oracle(objective="loss", max_trials=1)
    assert oracle._compute_values_hash({"a": 1, "ignored": 2}) == \
        kt.Oracle._compute_values_hash(oracle, {"a": 1})


def _private_uses(path):
    """`keras.src` imports and `._name` reads of anything but `self`/`cls`."""
    tree = ast.parse(path.read_text())
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                ("keras.src", "keras_tuner.engine", "keras_tuner.src")):
            uses.append(node.module)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
                node.attr.startswith("__") and node.attr.endswith("__")):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls", "super"):
                continue
            if isinstance(base, ast.Call) and getattr(base.func, "id", "") == "super":
                continue
            if isinstance(base, ast.Name) and base.id.startswith("_"):
                continue  # a module of keras-lr's own (`_validation.x`)
            uses.append(node.attr)
    return uses


def _own_private_names():
    """Underscored names keras-lr itself defines (methods, attributes)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_"):
                names.add(node.name)
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for element in ast.walk(target):
                        if isinstance(element, ast.Attribute) and element.attr.startswith("_"):
                            names.add(element.attr)
    return names


def test_no_private_keras_name_outside_the_one_module():
    own = _own_private_names() - {"_learning_rate", "_trainable_variables"}
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "keras_private.py":
            continue
        uses = [u for u in _private_uses(path)
                if not u.startswith("_keras_lr") and u not in own]
        if uses:
            offenders[str(path.relative_to(PACKAGE))] = sorted(set(uses))
    assert not offenders, offenders


@pytest.mark.tensorflow_only
def test_update_on_each_device(fresh_session, mirrored_strategy):
    import tensorflow as tf

    with mirrored_strategy.scope():
        optimizer = keras.optimizers.SGD()
        optimizer.build([keras.Variable(np.zeros(2, "float32"))])
        slot = optimizer.add_variable((), name="slot")
    seen = []

    def on_device(value):
        # Reads give this device's copy, assignments update it.
        seen.append(value.device)
        optimizer.assign(slot, ops.convert_to_tensor(slot) + value)

    @tf.function
    def step():
        def replica_fn():
            context = tf.distribute.get_replica_context()
            value = tf.cast(context.replica_id_in_sync_group, "float32") + 1.0
            kp.update_on_each_device(optimizer, on_device, value)
        mirrored_strategy.run(replica_fn)

    step()
    assert [float(np.asarray(copy)) for copy in slot.value.values] == [1.0, 2.0]
    assert len(seen) == 2 and seen[0] != seen[1]


def test_schedule_step_counts_micro_batches_under_accumulation(fresh_session):
    # Keras calls a schedule with `_iterations` (every `apply`), while the
    # public `iterations` counts updates: `schedule_step` is the former, and
    # `raw_step_counter` the variable behind it (a guard's restore keeps it).
    seen = []

    class Record(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            seen.append(step)
            return 0.1 + 0.0 * ops.cast(step, "float32")

    optimizer = keras.optimizers.SGD(Record(), gradient_accumulation_steps=2)
    variable = keras.Variable(np.ones(2, "float32"))
    optimizer.build([variable])
    for _ in range(3):
        optimizer.apply([ops.ones(2)], [variable])
    assert int(ops.convert_to_numpy(kp.schedule_step(optimizer))) == 3
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 1
    assert kp.raw_step_counter(optimizer) == [kp.schedule_step(optimizer)]
    assert seen and all(s is kp.schedule_step(optimizer) for s in seen)
    plain = keras.optimizers.SGD(0.1)
    assert kp.raw_step_counter(plain) == []  # `iterations` is the counter itself


def test_has_custom_train_step():
    class Custom(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    assert not kp.has_custom_train_step(keras.Sequential([keras.Input((1,)),
                                                          keras.layers.Dense(1)]))
    assert kp.has_custom_train_step(Custom([keras.Input((1,)), keras.layers.Dense(1)]))
