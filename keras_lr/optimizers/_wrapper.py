"""`OptimizerWrapper`: the delegation shared by keras-lr's optimizer wrappers.

A wrapper is a Keras optimizer that owns another one (`inner_optimizer`) and
forwards its state to it, the way `keras.optimizers.LossScaleOptimizer` does:
one optimizer state (the innermost optimizer's slots and `iterations`), the
inner learning rate (float or schedule), one checkpoint. It never replaces a
method of the optimizer it wraps: the outermost wrapper runs the update
itself (`apply`), with Keras's own pieces (the gradient filtering, clipping,
the backend's per-variable update step at a given learning rate, EMA,
constraints), and each wrapper of the chain says what it changes:

- `_multiplier(variable)`: a factor on that variable's learning rate (a
  float, or a step value); variables with the same factors are updated
  together, with one call of the backend's update step at their learning
  rate (`keras_lr._core.keras_private.backend_update_step`), so the torch
  backend's bulk update and TensorFlow's `tf.distribute` update stay Keras's;
- `_update(base, grads, variables, update)`: code around the rest of the
  update (a scheduled momentum, the hypergradient's learning-rate step);
- `_before_apply(base)`: per-step values, evaluated once per step into an
  optimizer variable (`add_step_value`).

So the wrapped optimizer, used alone afterwards, updates exactly as an
optimizer that was never wrapped. Wrappers nest with each other in any order
and inside a `LossScaleOptimizer` (`mixed_float16`); a `LossScaleOptimizer`
inside a wrapper is refused (Keras wraps the outermost optimizer itself).
"""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer as learning_rate_owner

__all__ = ["OptimizerWrapper", "apply_to_base", "build_on_first_apply", "safe_name",
           "sum_over_replicas"]


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class: a Keras optimizer that delegates to `inner_optimizer`.

    Subclasses implement any of `_multiplier(variable)`,
    `_update(base, grads, variables, update)`, `_before_apply(base)` and
    `_build_own_variables()`, and `get_config`.

    Args:
        optimizer: The Keras optimizer to wrap.
        name: String. The wrapper's name.
    """

    # Whether the wrapper may stand around an optimizer that estimates its
    # step size in a pass over all variables (Prodigy, DoG, ...).
    _wraps_step_size_estimators = False

    def __init__(self, optimizer, name=None):
        _validation.require_type(
            "optimizer", optimizer, keras.optimizers.Optimizer,
            "a Keras optimizer instance (e.g. `keras.optimizers.Adam()`)")
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError(
                "Argument `optimizer` must not be a LossScaleOptimizer: wrap the "
                "optimizer itself; with `mixed_float16`, `model.compile` puts the "
                "keras-lr wrapper inside a LossScaleOptimizer on its own. "
                f"Received: optimizer={optimizer!r}")
        if getattr(optimizer, "_keras_lr_wrapped_by", None) is not None:
            raise ValueError(
                "Argument `optimizer` is already wrapped by "
                f"{optimizer._keras_lr_wrapped_by!r}: wrap the wrapper, or a "
                f"new optimizer. Received: optimizer={optimizer!r}")
        base = learning_rate_owner(optimizer)
        if hasattr(base, "prepare_step") and not self._wraps_step_size_estimators:
            raise ValueError(
                f"{type(self).__name__} does not wrap {type(base).__name__}: it "
                "estimates its own step size (only `LRMultiplier` composes with "
                f"it). Received: optimizer={optimizer!r}")
        for setting in ("gradient_accumulation_steps",):
            if getattr(base, setting, None):
                raise ValueError(
                    f"keras-lr's optimizer wrappers do not support `{setting}` "
                    f"yet. Received: {setting}={getattr(base, setting)!r}")
        super().__init__(learning_rate=0.0, name=name)
        # The base class made a placeholder learning-rate variable; the
        # learning rate is the inner optimizer's.
        keras_private.untrack_variable(self, keras_private.learning_rate_slot(self))
        self.inner_optimizer = optimizer
        object.__setattr__(optimizer, "_keras_lr_wrapped_by", type(self).__name__)

    # -- what the wrapper changes -------------------------------------------

    def _multiplier(self, variable):
        """The factor on `variable`'s learning rate (float or step value)."""
        return 1.0

    def _update(self, base, grads, variables, update):
        """Runs `update(grads, variables)`, the rest of the step."""
        update(grads, variables)

    def _before_apply(self, base):
        pass

    def _build_own_variables(self):
        pass

    def add_step_value(self, name):
        """A float32 scalar variable of this optimizer, set once per step.

        Assigned in `_before_apply` (replica context: every replica computes
        the same value, the first one's is kept) and read in the update, so a
        schedule is evaluated once per step instead of once per variable. As
        an optimizer variable it is part of the (JAX) training state.
        """
        return self.add_variable(
            shape=(), dtype="float32", initializer="zeros",
            aggregation="only_first_replica", name=name)

    # -- the chain ------------------------------------------------------------

    def _chain(self):
        """The wrappers from this one inwards (outermost first)."""
        chain, optimizer = [], self
        while isinstance(optimizer, OptimizerWrapper):
            chain.append(optimizer)
            optimizer = optimizer.inner_optimizer
        return chain

    def build(self, var_list):
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        self._build_own_variables()
        self._check_inner(learning_rate_owner(self.inner_optimizer))
        super().build(var_list)

    def _check_inner(self, base):
        """Called once at build, with the innermost optimizer built."""

    def apply(self, grads, trainable_variables=None):
        """Updates the variables: Keras's `apply`, run for the innermost
        optimizer with each variable's learning rate as the chain sets it."""
        build_on_first_apply(self, trainable_variables)
        base = learning_rate_owner(self)
        chain = self._chain()
        for wrapper in chain:
            wrapper._before_apply(base)
        if len(grads) == 0:
            return
        apply_to_base(base, chain, grads, trainable_variables)

    # -- delegation ---------------------------------------------------------

    @property
    def variables(self):
        return self._variables[:] + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def variable_multipliers(self, variables=None):
        """The per-layer multipliers of the `LRMultiplier` inside this
        wrapper (after `fine_tune` or `fit_one_cycle(multipliers=...)` the
        model's optimizer is a `ScheduledMomentum` around one): see
        `LRMultiplier.variable_multipliers`.

        Raises:
            ValueError: if no `LRMultiplier` is inside (every variable then
                trains at the rate itself).
        """
        inner = self.inner_optimizer
        if isinstance(inner, OptimizerWrapper):
            return inner.variable_multipliers(variables)
        raise ValueError(
            f"This optimizer ({type(self).__name__} around {type(inner).__name__}) has no "
            "LRMultiplier inside: every variable trains at the learning rate itself "
            "(multiplier 1).")

    @property
    def loss_scale_factor(self):
        inner = self.__dict__.get("inner_optimizer")
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        # The base class sets None before `inner_optimizer` exists.
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.loss_scale_factor = value

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        self.inner_optimizer.exclude_from_weight_decay(
            var_list=var_list, var_names=var_names)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def _inner_config(self):
        return keras.saving.serialize_keras_object(self.inner_optimizer)

    @staticmethod
    def _deserialize_inner(config, custom_objects=None):
        return keras.saving.deserialize_keras_object(
            config, custom_objects=custom_objects)


def build_on_first_apply(optimizer, trainable_variables):
    """Builds `optimizer` on `trainable_variables` at its first `apply`, or
    says, as Keras does, that it needs them."""
    if optimizer.built:
        return
    if trainable_variables is None:
        raise ValueError(
            "When passing `grads` without `variables`, the optimizer "
            "must already be built on a list of variables. Call "
            "`optimizer.build(trainable_variables)` first.")
    optimizer.build(list(trainable_variables))


def apply_to_base(base, chain, grads, trainable_variables=None):
    """Keras's `apply` for the innermost optimizer `base` (built), with the
    learning-rate factors and updates of the wrappers in `chain` (outermost
    first; may be empty): filtering, unscaling, clipping, the grouped
    update, EMA, constraints, `iterations`. A step-size estimator (`run_step`)
    gets its pass over the trained variables first."""
    variables = (keras_private.trainable_variables(base)
                 if trainable_variables is None else list(trainable_variables))
    keras_private.check_variables_are_known(base, variables)
    grads, variables = keras_private.filter_empty_gradients(base, list(grads), variables)
    grads, variables = keras_private.overwrite_variables_with_gradients(
        base, grads, variables)
    factors = {id(v): _factors(chain, v) for v in variables}
    # A frozen variable (a multiplier of 0) takes no part in the step.
    kept = [(g, v) for g, v in zip(grads, variables) if not _frozen(factors[id(v)])]
    grads, variables = [g for g, _ in kept], [v for _, v in kept]
    if grads:
        scale = base.loss_scale_factor
        if scale is not None:
            grads = [g / scale for g in grads]

        def update(grads, variables):
            grads = keras_private.clip_gradients(base, grads)
            _grouped_update(base, grads, variables, factors)
            if base.use_ema:
                keras_private.update_moving_average(base)

        for wrapper in reversed(chain):  # the outermost wraps the others
            update = _around(wrapper, base, update)
        if hasattr(base, "run_step"):
            # A step-size estimator: its pass over the trained variables
            # first (under tf.distribute, with the summed gradients, the
            # pass and the update on each device).
            base.run_step(grads, variables, update)
        else:
            update(grads, variables)
        for variable in variables:
            if variable.constraint is not None:
                variable.assign(variable.constraint(variable))
    base.iterations.assign_add(1)


def _around(wrapper, base, update):
    return lambda grads, variables: wrapper._update(base, grads, variables, update)


def _factors(chain, variable):
    """The non-unit learning-rate factors the chain gives `variable`."""
    factors = []
    for wrapper in chain:
        factor = wrapper._multiplier(variable)
        if not (isinstance(factor, float) and factor == 1.0):
            factors.append(factor)
    return tuple(factors)


def _frozen(factors):
    return any(isinstance(f, float) and f == 0.0 for f in factors)


def _key(factors):
    return tuple(f if isinstance(f, float) else id(f) for f in factors)


def _grouped_update(base, grads, variables, factors):
    """The backend's update of `variables`, one call per distinct learning
    rate, with Keras's decoupled weight decay at that rate first."""
    groups = {}
    for grad, variable in zip(grads, variables):
        entry = groups.setdefault(_key(factors[id(variable)]),
                                  (factors[id(variable)], [], []))
        entry[1].append(grad)
        entry[2].append(variable)
    learning_rate = base.learning_rate
    standard_decay = keras_private.has_standard_weight_decay(base)
    if base.weight_decay is not None and not standard_decay:
        # The optimizer's own decay (Muon): only unscaled rates reach here
        # (LRMultiplier refuses other multipliers at build).
        keras_private.own_weight_decay(base, variables)
    estimator = hasattr(base, "set_step_factor")
    for group_factors, group_grads, group_variables in groups.values():
        rate = learning_rate
        product = 1.0
        for factor in group_factors:
            rate = ops.multiply(ops.cast(rate, "float32"), ops.cast(factor, "float32"))
            product = ops.multiply(ops.cast(product, "float32"), ops.cast(factor, "float32"))
        if estimator:
            # Its steps come from its shared estimate, scaled per group.
            base.set_step_factor(product if group_factors else None)
        if base.weight_decay is not None and standard_decay:
            decayed = [v for v in group_variables if keras_private.use_weight_decay(base, v)]
            if decayed:
                keras_private.update_each(base, decayed, _decay, rate,
                                          ops.convert_to_tensor(base.weight_decay))
        if estimator:
            # Already where the backend updates (`run_step`: on each device
            # under tf.distribute): the per-variable step itself.
            for grad, variable in zip(group_grads, group_variables):
                base.update_step(grad, variable, rate)
        else:
            keras_private.backend_update_step(base, group_grads, group_variables, rate)
    if estimator:
        base.set_step_factor(None)


def _decay(variable, learning_rate, weight_decay):
    """Keras's decoupled weight decay at `learning_rate`, computed as the
    backend's own optimizers do (torch: `v *= 1 - wd * lr`)."""
    lr = ops.cast(learning_rate, variable.dtype)
    wd = ops.cast(weight_decay, variable.dtype)
    if keras.backend.backend() == "torch":
        variable.assign(variable * (1 - wd * lr))
    else:
        variable.assign_sub(variable * wd * lr)


def safe_name(path):
    """A variable path usable in a variable name."""
    return path.replace("/", "_")


def sum_over_replicas(value):
    """Sums `value` (a tensor or a list) over the replicas of a
    `tf.distribute` strategy, if any."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
