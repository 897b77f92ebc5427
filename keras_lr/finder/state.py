"""Captures and restores everything a training run can change in a model.

Used by the LR finder (and the divergence guard) so that "put the model back
exactly as it was" means bit for bit: the weights, every optimizer variable
(slots, `iterations`, the learning-rate variable, a loss-scale optimizer's
dynamic scale), the metrics' state, the seed generators' state, and the
compiled functions and attributes that `fit` replaces.
"""

import contextlib

import numpy as np
from keras import ops

# The attributes of a model that `fit` replaces or sets.
MODEL_ATTRIBUTES = (
    "train_function", "test_function", "predict_function",
    "stop_training", "history", "steps_per_execution",
)


def learning_rate_owner(optimizer):
    """The (innermost) optimizer that holds `_learning_rate`.

    `keras.optimizers.LossScaleOptimizer` and keras-lr's wrappers delegate the
    learning rate to `inner_optimizer`.
    """
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def sync_jax_state(model):
    """On the JAX backend, writes the in-flight training state to the variables.

    Inside `fit`, JAX keeps the state outside the variables; after this call
    the variables are current and the next step re-reads them, so a callback
    may read or assign them. A no-op on other backends.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def build_optimizer(model):
    """Builds the model's optimizer now if it is not built yet.

    Keras builds it lazily, inside the first train step: a snapshot taken
    before that would miss the slots the step then creates.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built or not model.built:
        return
    strategy = getattr(model, "distribute_strategy", None)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        optimizer.build(model.trainable_variables)


def _unique(variables):
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def _tracked_variables(model):
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

    def __init__(self, model, variables, values, attributes, learning_rate):
        self.model = model
        self._variables = variables
        self._values = values
        self._attributes = attributes
        self._learning_rate = learning_rate

    @classmethod
    def capture(cls, model):
        sync_jax_state(model)
        build_optimizer(model)
        variables = _tracked_variables(model)
        values = [np.array(ops.convert_to_numpy(v), copy=True) for v in variables]
        attributes = {
            name: getattr(model, name) for name in MODEL_ATTRIBUTES
            if hasattr(model, name)
        }
        learning_rate = None
        if getattr(model, "optimizer", None) is not None:
            learning_rate = learning_rate_owner(model.optimizer)._learning_rate
        return cls(model, variables, values, attributes, learning_rate)

    def restore(self, attributes=True, keep=()):
        """Puts every captured value back.

        Args:
            attributes: Bool. Also put back the model's compiled functions
                and the other attributes `fit` replaces. Defaults to `True`;
                `False` inside a running `fit` (the divergence guard).
            keep: Variables left as they are now (the divergence guard keeps
                `iterations` and the metrics).
        """
        kept = {id(variable) for variable in keep}
        model = self.model
        sync_jax_state(model)
        if getattr(model, "optimizer", None) is not None:
            # Bypass the optimizer's attribute tracking: the captured object
            # is already tracked, and tracking it again could duplicate it.
            object.__setattr__(
                learning_rate_owner(model.optimizer), "_learning_rate",
                self._learning_rate,
            )
        for variable, value in zip(self._variables, self._values):
            if id(variable) not in kept:
                variable.assign(value)
        if attributes:
            for name, value in self._attributes.items():
                setattr(model, name, value)

    def differences(self):
        """Paths of the variables whose value differs from the snapshot."""
        sync_jax_state(self.model)
        return [
            variable.path
            for variable, value in zip(self._variables, self._values)
            if not np.array_equal(
                np.asarray(ops.convert_to_numpy(variable)), value, equal_nan=True
            )
        ]
