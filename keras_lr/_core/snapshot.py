"""A bit-exact snapshot of everything a training run changes in a model.

"Put the model back exactly as it was" means: the weights, every optimizer
variable (slots, `iterations`, the learning-rate variable, a loss-scale
optimizer's dynamic scale), the metrics' state, the layers' seed-generator
states, the object in the optimizer's learning-rate slot, and the compiled
functions and attributes that `fit` replaces. Used by the LR finder and the
divergence guard.

A model that is not built has no variables yet: a snapshot of it would hold
nothing, and restoring it would silently leave whatever training did. So
`restore` refuses when the model gained variables after the snapshot (it was
built by the first training step); `keras_lr.find_lr` builds such a model
from its data first.
"""

import warnings

import numpy as np
from keras import ops

from keras_lr._core import keras_private
from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.learning_rate import strategy_scope

__all__ = ["MODEL_ATTRIBUTES", "NonFiniteWeightsWarning", "TrainingState", "build_optimizer",
           "non_finite_weights", "sync_jax_state", "warn_if_not_finite",
           "warn_if_weights_not_finite"]

# The attributes of a model that `fit` replaces or sets.
MODEL_ATTRIBUTES = (
    "train_function", "test_function", "predict_function",
    "stop_training", "history", "steps_per_execution",
)

sync_jax_state = keras_private.jax_state_sync


def build_optimizer(model):
    """Builds the model's optimizer now if it is not built yet.

    Keras builds it lazily, inside the first train step: a snapshot taken
    before that would miss the slots the step then creates.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built or not model.built:
        return
    with strategy_scope(model):
        optimizer.build(model.trainable_variables)


def non_finite_weights(model):
    """The paths of the model's floating-point weights (trainable or not:
    BatchNormalization statistics too) that hold a NaN or an infinity.

    A finite loss does not mean finite weights: oneDNN's ReLU maps NaN and
    inf inputs to 0 on some CPUs, so one bad row can turn a layer's kernel
    NaN while the model keeps predicting a constant at a finite loss. One
    reduction per variable on the device and one read of the results.
    """
    sync_jax_state(model)
    weights = [w for w in _unique(model.weights)
               if "float" in str(getattr(w, "dtype", ""))]
    if not weights:
        return []
    flags = ops.convert_to_numpy(ops.stack(
        [ops.all(ops.isfinite(ops.convert_to_tensor(w))) for w in weights]))
    return [w.path for w, ok in zip(weights, np.asarray(flags)) if not ok]


class NonFiniteWeightsWarning(UserWarning):
    """The model's weights hold a NaN or an infinity."""


def warn_if_weights_not_finite(model, who):
    """Warns when `model`'s weights are not finite at the end of `who` (a
    workflow's training); returns whether they are."""
    bad = non_finite_weights(model)
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        warnings.warn(
            f"{who}: the model's weights are not finite after training (NaN or inf in "
            f"{bad[0]}{more}), whatever the loss shows. A NaN or inf row in the data is "
            "the usual cause. Add `keras_lr.callbacks.DivergenceGuard()` to `callbacks` "
            "to restore the last good weights when it happens.",
            NonFiniteWeightsWarning, stacklevel=3)
    return not bad


def warn_if_not_finite(callback):
    """Warns once per `fit` (per callback) when the model's weights are not
    finite, naming the first bad weight and what to do; returns whether
    they are. Called at the end of each epoch by keras-lr's callbacks, so
    that a NaN that the loss does not show is never silent."""
    bad = non_finite_weights(callback.model)
    if bad and not getattr(callback, "_keras_lr_warned_weights", False):
        object.__setattr__(callback, "_keras_lr_warned_weights", True)
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        warnings.warn(
            f"{type(callback).__name__}: the model's weights are not finite (NaN or inf "
            f"in {bad[0]}{more}), whatever the loss shows. A NaN or inf row in the data "
            "is the usual cause (some CPUs' ReLU maps NaN to 0, so the loss can stay "
            "finite). `keras_lr.callbacks.DivergenceGuard` restores the last good "
            "weights when it happens; `keras.callbacks.TerminateOnNaN` stops on a NaN "
            "loss.", NonFiniteWeightsWarning, stacklevel=3)
    return not bad


def _unique(variables):
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def tracked_variables(model):
    """The model's, its optimizer's and its metrics' variables, once each."""
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    variables += list(getattr(model, "metrics_variables", []))
    return _unique(variables)


class TrainingState:
    """A bit-exact snapshot of a model's training state.

    Example:

    ```python
    state = TrainingState.capture(model)
    model.fit(...)          # anything
    state.restore()         # weights, optimizer, metrics, compiled functions
    ```
    """

    def __init__(self, model, variables, values, attributes, learning_rate, built):
        self.model = model
        self._variables = variables
        self._values = values
        self._attributes = attributes
        self._learning_rate = learning_rate
        self.built = built

    @classmethod
    def capture(cls, model, variables=None):
        """Snapshots `model`; with `variables`, only those variables' values."""
        sync_jax_state(model)
        build_optimizer(model)
        variables = tracked_variables(model) if variables is None else list(variables)
        values = [np.array(ops.convert_to_numpy(v), copy=True) for v in variables]
        attributes = {
            name: getattr(model, name) for name in MODEL_ATTRIBUTES
            if hasattr(model, name)
        }
        learning_rate = None
        if getattr(model, "optimizer", None) is not None:
            learning_rate = LearningRate(model.optimizer).slot
        return cls(model, variables, values, attributes, learning_rate,
                   built=bool(model.built))

    def replace_values(self, other):
        """Takes the values of the variables `other` (an earlier snapshot of
        the same model) also holds: e.g. the metrics before `fit` reset them."""
        earlier = {id(v): value for v, value in zip(other._variables, other._values)}
        self._values = [earlier.get(id(v), value)
                        for v, value in zip(self._variables, self._values)]

    def restorable(self):
        """Whether every model and optimizer variable is in the snapshot.

        (Metrics whose variables the first step created are left as they
        are: `fit` resets them every epoch.)
        """
        captured = {id(v) for v in self._variables}
        model = self.model
        variables = list(model.variables)
        if getattr(model, "optimizer", None) is not None:
            variables += list(model.optimizer.variables)
        return all(id(v) in captured for v in variables)

    def restore(self, attributes=True, keep=(), learning_rate=True):
        """Puts every captured value back.

        Args:
            attributes: Bool. Also put back the model's compiled functions
                and the other attributes `fit` replaces. Defaults to `True`;
                `False` inside a running `fit` (the divergence guard).
            keep: Variables left as they are now (the divergence guard keeps
                `iterations`, the learning rate and the metrics).
            learning_rate: Bool. Also put back the object in the optimizer's
                learning-rate slot. Defaults to `True`.

        Raises:
            RuntimeError: if the model has variables the snapshot does not
                hold (it was built after the snapshot).
        """
        model = self.model
        sync_jax_state(model)
        if not self.restorable():
            raise RuntimeError(
                f"Cannot restore {model.name!r}: it has variables that did not "
                "exist when its state was saved (it was not built then; "
                "`fit` built it in its first step). Build the model before "
                "(`keras.Input` in a Sequential, `model.build(input_shape)`, "
                "or one call on a batch).")
        kept = {id(variable) for variable in keep}
        if learning_rate and getattr(model, "optimizer", None) is not None:
            LearningRate(model.optimizer).replace(self._learning_rate)
        for variable, value in zip(self._variables, self._values):
            if id(variable) not in kept:
                variable.assign(value)
        if attributes:
            for name, value in self._attributes.items():
                setattr(model, name, value)
