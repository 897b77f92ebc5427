"""Every private Keras (and keras-tuner) name keras-lr uses, in one place.

Keras 3 has no public API for a few things a learning-rate library needs:
the object in an optimizer's learning-rate slot, the loss tracker's running
totals, the JAX trainer's state sync, the per-variable update of an
optimizer. Each is reached through a function of this module, and
`tests/test_keras_private.py` checks every one of them against the installed
Keras, so a release that moves one fails those tests by name instead of
giving wrong results somewhere else. `setup.cfg` admits only the Keras
versions CI runs these tests on.

Nothing outside `keras_lr._core` imports `keras.src` or reads an
underscored attribute of a Keras object.
"""

import contextlib
import sys

import keras
from keras.src.saving.keras_saveable import KerasSaveable  # noqa: F401 (re-exported)

__all__ = [
    "HashedValuesMixin",
    "KerasSaveable",
    "has_custom_train_step",
    "has_loss_tracker",
    "backend_update_step",
    "calling_callback_list",
    "check_variables_are_known",
    "clip_gradients",
    "compile_arguments",
    "epoch_batches",
    "split_for_validation",
    "filter_empty_gradients",
    "flatten_layers",
    "fit_from_epoch_zero",
    "has_standard_weight_decay",
    "hide_from_trial_table",
    "own_weight_decay",
    "update_each",
    "update_on_each_device",
    "jax_state_sync",
    "learning_rate_slot",
    "loss_tracker_totals",
    "metric_direction",
    "model_building",
    "overwrite_variables_with_gradients",
    "print_msg",
    "raw_step_counter",
    "schedule_step",
    "set_learning_rate_slot",
    "symbolic_build",
    "trainable_variables",
    "untrack_variable",
    "update_moving_average",
    "use_weight_decay",
    "variable_index",
]

# ---- optimizers ---------------------------------------------------------------


def learning_rate_slot(optimizer):
    """The object an optimizer reads its learning rate from (a variable or a
    schedule): `BaseOptimizer._learning_rate`."""
    return optimizer._learning_rate


def set_learning_rate_slot(optimizer, value):
    """Puts `value` in the slot without Keras's attribute tracking (the
    object is either tracked already or is not a variable)."""
    object.__setattr__(optimizer, "_learning_rate", value)


def schedule_step(optimizer):
    """The step Keras calls the optimizer's learning-rate schedule with
    (`BaseOptimizer._get_current_learning_rate` passes `_iterations`): the
    count of `apply` calls, which under `gradient_accumulation_steps=k`
    counts micro-batches, while the public `iterations` counts updates
    (`_iterations // k`)."""
    return optimizer._iterations


def raw_step_counter(optimizer):
    """`[the variable behind schedule_step]`: under gradient accumulation
    `iterations` is computed from it, so a restore that keeps the step
    counter must keep this variable (empty when it is `iterations` itself
    or not a variable)."""
    counter = getattr(optimizer, "_iterations", None)
    if isinstance(counter, keras.Variable) and counter is not optimizer.iterations:
        return [counter]
    return []


def untrack_variable(optimizer, variable):
    """Removes `variable` from `optimizer.variables`."""
    optimizer._untrack_variable(variable)


def trainable_variables(optimizer):
    """The variables a built optimizer updates, in its order."""
    return list(optimizer._trainable_variables)


def variable_index(optimizer, variable):
    """The index of `variable` in the optimizer's slot lists."""
    return optimizer._get_variable_index(variable)


def use_weight_decay(optimizer, variable):
    """Whether the optimizer's weight decay applies to `variable`."""
    return bool(optimizer._use_weight_decay(variable))


def check_variables_are_known(optimizer, variables):
    optimizer._check_variables_are_known(variables)


def filter_empty_gradients(optimizer, grads, variables):
    return optimizer._filter_empty_gradients(grads, variables)


def overwrite_variables_with_gradients(optimizer, grads, variables):
    return optimizer._overwrite_variables_directly_with_gradients(grads, variables)


def clip_gradients(optimizer, grads):
    return optimizer._clip_gradients(grads)


def backend_update_step(optimizer, grads, variables, learning_rate):
    """The backend's update of `variables` at `learning_rate`.

    The TensorFlow backend's version runs the per-variable updates through
    `tf.distribute`; the torch backend's updates every variable in one bulk
    step; the others call `update_step` for each variable.
    """
    optimizer._backend_update_step(grads, variables, learning_rate)


def update_moving_average(optimizer):
    """The optimizer's EMA of the model variables (`use_ema=True`), and the
    overwrite every `ema_overwrite_frequency` steps, as Keras's backends do
    (written with `ops.where`, which every backend compiles)."""
    from keras import ops

    variables = optimizer._trainable_variables
    optimizer._update_model_variables_moving_average(variables)
    if optimizer.ema_overwrite_frequency:
        overwrite = ops.equal(
            (optimizer.iterations + 1) % optimizer.ema_overwrite_frequency, 0)
        for variable, average in zip(variables, optimizer._model_variables_moving_average):
            if average is not None:
                variable.assign(ops.where(overwrite, average, variable))


def own_weight_decay(optimizer, variables):
    """The optimizer's own weight-decay pass (at its own learning rate)."""
    optimizer._apply_weight_decay(variables)


def has_standard_weight_decay(optimizer):
    """Whether `_apply_weight_decay` is Keras's decoupled
    `variable -= variable * weight_decay * learning_rate` (not overridden by
    the optimizer, as Muon does)."""
    for cls in type(optimizer).__mro__:
        if "_apply_weight_decay" in vars(cls):
            return cls.__module__.startswith(
                ("keras.src.optimizers.base_optimizer", "keras.src.backend."))
    return False


def update_each(optimizer, variables, fn, *args):
    """Calls `fn(variable, *args)` for each variable the way the backend
    updates optimizer-owned variables: on TensorFlow through `tf.distribute`
    (in cross-replica context, `args` passed through the merge call, as
    Keras's own weight decay does); elsewhere directly."""
    if keras.backend.backend() != "tensorflow":
        for variable in variables:
            fn(variable, *args)
        return
    import tensorflow as tf

    def merged(distribution, variables, *args):
        for variable in variables:
            if isinstance(variable, keras.Variable):
                variable = variable.value
            distribution.extended.update(variable, fn, args=args, group=False)

    tf.__internal__.distribute.interim.maybe_merge_call(
        merged, optimizer._distribution_strategy, variables, *args)


def update_on_each_device(optimizer, fn, *args):
    """Calls `fn(*args)` once per device of the optimizer's multi-replica
    `tf.distribute` strategy, in Keras's cross-replica update context (the
    one its per-variable `update_step` runs in): there every read of a
    mirrored variable gives that device's copy and every assignment updates
    it. `args` (per-replica values, e.g. gradients summed over replicas)
    reach `fn` as that device's value. Called in replica context."""
    import tensorflow as tf

    def merged(distribution, *args):
        anchor = optimizer.iterations
        if isinstance(anchor, keras.Variable):
            anchor = anchor.value
        distribution.extended.update(
            anchor, lambda _, *device_args: fn(*device_args), args=args, group=False)

    tf.__internal__.distribute.interim.maybe_merge_call(
        merged, optimizer._distribution_strategy, *args)


# ---- models -------------------------------------------------------------------


def loss_tracker_totals(model):
    """`(total, count)` of the running training loss of the current epoch,
    as NumPy floats (the model's `Mean` loss tracker)."""
    from keras import ops

    tracker = model._loss_tracker
    return (float(ops.convert_to_numpy(tracker.total)),
            float(ops.convert_to_numpy(tracker.count)))


def has_custom_train_step(model):
    """Whether the model's class overrides `train_step` (the method `fit`
    calls for each batch), i.e. it is not the backend trainer's own."""
    for cls in type(model).__mro__:
        if "train_step" in vars(cls):
            return not cls.__module__.startswith("keras.src.")
    return False


def has_loss_tracker(model):
    return getattr(model, "_loss_tracker", None) is not None


def jax_state_sync(model):
    """On JAX, writes the state a running `fit` holds outside the variables
    back into them (and makes the next step re-read them); else a no-op."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def flatten_layers(model):
    """Every layer inside `model`, recursively, without `model` itself."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def compile_arguments(model):
    """The arguments of the model's last `compile` call, as passed (Keras's
    `Trainer._compile_config`), so that it can be compiled again with only
    the optimizer changed; None if it was not compiled."""
    config = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or config is None:
        return None
    return dict(config.config)


def epoch_batches(x, y=None, sample_weight=None, batch_size=None,
                  steps_per_epoch=None, validation_split=0.0):
    """The number of training batches per epoch that `fit` would run with
    these arguments (None when unknown, e.g. a dataset of unknown
    cardinality), from Keras's own validation split and data adapter."""
    from keras.src.trainers.data_adapters import get_data_adapter

    if steps_per_epoch:
        return int(steps_per_epoch)
    if validation_split:
        (x, y, sample_weight), _ = split_for_validation(x, y, sample_weight,
                                                        validation_split)
    adapter = get_data_adapter(x=x, y=y, sample_weight=sample_weight,
                               batch_size=batch_size, shuffle=False)
    return adapter.num_batches


def split_for_validation(x, y, sample_weight, validation_split):
    """`((x, y, sample_weight), (x_val, y_val, sw_val))` as `fit` splits
    arrays for `validation_split` (the last fraction, unshuffled)."""
    from keras.src.trainers.data_adapters import array_slicing

    return array_slicing.train_validation_split(
        (x, y, sample_weight), validation_split=validation_split)


def model_building(optimizer):
    """The model whose `fit`, `compile_from_config` or `BackupAndRestore` is
    building `optimizer` now (or an optimizer that wraps it), found by
    walking up the call stack as `calling_callback_list` does; None when
    the optimizer is built directly."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.Callback):
            owner = getattr(owner, "_model", None)
        if isinstance(owner, keras.Model):
            current = getattr(owner, "optimizer", None)
            while current is not None:
                if current is optimizer:
                    return owner
                current = getattr(current, "inner_optimizer", None)
        frame = frame.f_back
    return None


@contextlib.contextmanager
def fit_from_epoch_zero(model):
    """Within the block, `model.fit` starts at its own `initial_epoch`.

    Keras's `BackupAndRestore` sets `Trainer._initial_epoch` when it resumes
    and never clears it, so every later `fit` of that model (a range test
    inside a resumed run) would start at the resumed epoch and, with
    `epochs=1`, run nothing."""
    saved = getattr(model, "_initial_epoch", None)
    model._initial_epoch = None
    try:
        yield
    finally:
        model._initial_epoch = saved


def compiled_metrics(model):
    """The model's compiled metrics (Keras's `CompileMetrics`, a metric
    whose `stateless_update_state` / `stateless_result` cover every compiled
    metric), or None. Built by `symbolic_build`."""
    return getattr(model, "_compile_metrics", None)


def symbolic_build(model, data_batch):
    """Builds an unbuilt model, its compiled loss and metrics and its
    optimizer from one batch `(x, y)` or `(x, y, sample_weight)`, the way
    `fit` builds them under a distribution strategy."""
    model._symbolic_build(data_batch=data_batch)


# ---- callbacks ----------------------------------------------------------------


def calling_callback_list(callback):
    """The `keras.callbacks.CallbackList` that is calling `callback` now.

    Keras does not tell a callback which other callbacks run beside it; the
    order matters for `BackupAndRestore` and `ModelCheckpoint`. Found by
    walking up the call stack to the list whose hook is running. Returns
    None when the callback is called directly.
    """
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            if any(c is callback for c in owner.callbacks):
                return owner
        frame = frame.f_back
    return None


# ---- keras-tuner --------------------------------------------------------------


class HashedValuesMixin:
    """For a `keras_tuner.Oracle` subclass: `values_for_hash(values)` decides
    which values count as the same trial (keras-tuner's private
    `_compute_values_hash` hook)."""

    def values_for_hash(self, values):
        return values

    def _compute_values_hash(self, values):
        return super()._compute_values_hash(self.values_for_hash(dict(values)))


def hide_from_trial_table(oracle, hidden):
    """Makes the table keras-tuner prints at each trial's start (the private
    `Display` of `Oracle._display`) leave out the hyperparameters in
    `hidden`; `hidden` is a function `trial -> trial` that returns a copy
    without them."""
    from keras_tuner.src.engine import oracle as oracle_module

    class _Display(oracle_module.Display):
        def show_hyperparameter_table(self, trial):
            super().show_hyperparameter_table(hidden(trial))

    display = _Display(oracle=oracle, verbose=oracle._display.verbose)
    display.set_state(oracle._display.get_state())
    oracle._display = display


def metric_direction(model, name):
    """`"up"`, `"down"` or None: the direction of the compiled metric
    `name` (Keras's `_direction` of the metrics inside `CompileMetrics`)."""
    from keras.src.trainers import compile_utils

    for metric in getattr(model, "metrics", []):
        inner = metric.metrics if isinstance(
            metric, (compile_utils.CompileMetrics, compile_utils.MetricsList)) else [metric]
        for m in inner:
            if m.name == name and hasattr(m, "_direction"):
                return m._direction
    return None


def print_msg(message):
    """Keras's own message printer (`keras.src.utils.io_utils.print_msg`): it
    honours `keras.config.disable_interactive_logging()` (then the message goes
    to the absl logger), as Keras's callbacks' messages do."""
    from keras.src.utils import io_utils

    io_utils.print_msg(message)
