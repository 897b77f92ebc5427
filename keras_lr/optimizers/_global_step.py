"""The base of optimizers whose update needs a pass over every variable
first (a global step-size estimate: Prodigy, D-Adaptation, DoG)."""

import warnings

import keras
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr.optimizers import _wrapper

__all__ = ["EtaStepOptimizer", "GlobalStepOptimizer", "all_finite", "copy_initializer",
           "dense", "validate_growth_rate"]

def all_finite(grads):
    """A boolean tensor: no NaN or infinite value in any gradient."""
    return ops.all(ops.stack([ops.all(ops.isfinite(g)) for g in grads]))


def dense(grads):
    """`grads` with sparse gradients (TensorFlow's `IndexedSlices`, from an
    `Embedding`) made dense: the references update every row each step
    (moments decay, the estimate sums over all of them)."""
    grads = list(grads)
    if keras.backend.backend() != "tensorflow":
        return grads  # dense already
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def copy_initializer(variable, transform=None):
    """An initializer giving a copy of `variable`'s value (through
    `transform`, e.g. a slice): the reference optimizers' `x0`, `z`, `x`."""
    def initializer(shape, dtype=None):
        with _outside_any_graph():
            value = ops.convert_to_tensor(variable)
            if transform is not None:
                value = transform(value)
            # A copy: on JAX, sharing the variable's buffer breaks donation.
            return ops.copy(ops.cast(value, dtype or "float32"))
    return initializer


def _outside_any_graph():
    """On TensorFlow, `tf.init_scope()`: Keras builds the optimizer inside the
    first traced train step, where an initial value read from another
    variable would be a graph tensor that XLA (`jit_compile=True`) cannot
    lift out of the step; read eagerly, it is the variable's value at build
    time, as on the other backends."""
    if keras.backend.backend() != "tensorflow":
        import contextlib

        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.init_scope()


def validate_growth_rate(growth_rate):
    """`inf`, or a float > 1: the most an estimate may grow per step."""
    if growth_rate == float("inf"):
        return growth_rate
    return _validation.require_number("growth_rate", growth_rate, minimum=1,
                                      min_inclusive=False)


_REFUSED = ("clipnorm", "clipvalue", "global_clipnorm", "gradient_accumulation_steps")


def _times(ratio):
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def _warn_multiplier(name, learning_rate):
    """A learning-rate-free optimizer given a learning rate as for Adam."""
    if learning_rate == 0:
        how = "no steps at all"
    elif learning_rate < 1:
        how = f"about {_times(1.0 / learning_rate)} smaller steps than it estimates"
    else:
        how = f"about {_times(learning_rate)} larger steps than it estimates"
    warnings.warn(
        f"{name}: `learning_rate` multiplies the step size it estimates; it is not a "
        f"step size (keep it near 1.0, 0.5 to 2 for a gentler or bolder run). This one "
        f"takes {how}. Received: learning_rate={learning_rate!r}", stacklevel=4)


class GlobalStepOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer with a `prepare_step(grads, variables, lr)` pass.

    `apply` runs `prepare_step` on every (gradient, variable) pair, then
    Keras's own `apply`, whose per-variable `update_step` reads what the pass
    stored. Gradient clipping and accumulation are refused: the estimate
    would see other gradients than the update. Sparse gradients (an
    `Embedding`'s, on TensorFlow) are made dense first, as the references
    take them.

    Under a multi-replica `tf.distribute` strategy the gradients are first
    summed over the replicas (as Keras sums them for any optimizer), then the
    pass and the updates run together on each device, in the cross-replica
    update context where Keras runs `update_step`: every device computes the
    same estimate from the same summed gradients, so the replicas stay equal
    and equal one device.
    """

    # Whether `learning_rate` multiplies an estimated step size (Prodigy,
    # D-Adaptation, DoG, DoWG) rather than being one (Schedule-Free).
    learning_rate_is_multiplier = False

    def __init__(self, learning_rate, name, **kwargs):
        learning_rate = _validation.as_scalar(learning_rate)
        if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            # A multiplier of the estimated step: NaN, inf or a float32
            # overflow would train nothing, silently.
            _validation.require_non_negative("learning_rate", learning_rate)
            if self.learning_rate_is_multiplier and not 0.1 <= learning_rate <= 10.0:
                _warn_multiplier(type(self).__name__, learning_rate)
        for argument in _REFUSED:
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"{type(self).__name__} estimates its step size from the raw "
                    f"gradients, so it does not support `{argument}`. Received: "
                    f"{argument}={kwargs[argument]!r}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)

    def add_scalar(self, name, value):
        """A float32 scalar optimizer variable starting at `value`."""
        return self.add_variable(
            (), initializer=keras.initializers.Constant(float(value)), name=name)

    def learning_rate_at(self, step=None):
        """The learning rate (float or schedule) at `step` (default: now)."""
        value = keras_private.learning_rate_slot(self)
        if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
            return value(self.iterations if step is None else step)
        return ops.convert_to_tensor(value)

    def index(self, variable):
        return keras_private.variable_index(self, variable)

    def prepare_step(self, grads, variables, learning_rate):
        raise NotImplementedError

    def prepare(self, grads, variables):
        """Runs `prepare_step` on unscaled gradients: called by `apply`, and
        by `LRMultiplier` for the variables it trains."""
        object.__setattr__(self, "_keras_lr_step_grads", {})
        object.__setattr__(self, "_keras_lr_factor", None)
        self.prepare_step(grads, variables, ops.cast(self.learning_rate, "float32"))

    def set_step_factor(self, factor):
        """Set by `LRMultiplier` before it updates a group of variables:
        their steps are multiplied by `factor` (the estimate is shared)."""
        object.__setattr__(self, "_keras_lr_factor", factor)

    def scaled(self, step):
        """`step` times the current variable group's multiplier, if any."""
        factor = getattr(self, "_keras_lr_factor", None)
        if factor is None:
            return step
        return step * ops.cast(factor, step.dtype)

    def scaled_move(self, old, new):
        """`new`, or with a multiplier `old + factor * (new - old)`."""
        if getattr(self, "_keras_lr_factor", None) is None:
            return new
        return old + self.scaled(new - old)

    def run_step(self, grads, variables, update):
        """`prepare(grads, variables)`, then `update(grads, variables)` (the
        per-variable updates): directly, or under a multi-replica strategy
        (called in replica context) with the gradients summed over replicas,
        on each device."""
        def step(grads):
            self.prepare(grads, variables)
            update(grads, variables)

        grads = dense(grads)
        if not _multi_replica():
            step(grads)
            return
        import tensorflow as tf

        grads = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, grads)
        keras_private.update_on_each_device(self, step, grads)

    def apply(self, grads, trainable_variables=None):
        grads = dense(grads)
        if _multi_replica():
            # Keras's update, with `run_step` summing the gradients first.
            _wrapper.build_on_first_apply(self, trainable_variables)
            if grads:
                _wrapper.apply_to_base(self, [], grads, trainable_variables)
            return None
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
        variables = (trainable_variables if trainable_variables is not None
                     else keras_private.trainable_variables(self))
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if pairs:
            scale = self.loss_scale_factor
            self.prepare([g if scale is None else g / scale for g, _ in pairs],
                         [v for _, v in pairs])
        return super().apply(grads, trainable_variables)


class EtaStepOptimizer(GlobalStepOptimizer):
    """An SGD step `x -= eta * g` at one scalar `eta` that the pass
    estimates from the distance to the initial point `x0` (DoG, DoWG).

    A subclass's `build` adds its own scalars, then `add_eta_and_x0`; its
    `prepare_step` ends with `finish_pass(eta, finite, step_grads)`.
    """

    learning_rate_is_multiplier = True

    def add_eta_and_x0(self, var_list):
        self._eta = self.add_scalar("eta", 0.0)
        self._x0 = [self.add_variable(tuple(v.shape), name="x0",
                                      initializer=copy_initializer(v)) for v in var_list]

    def finish_pass(self, eta, finite, step_grads):
        """Keeps `eta` unless a gradient was not finite (then the step is
        skipped), and the gradients the update steps take."""
        self.assign(self._eta, ops.where(finite, eta, ops.convert_to_tensor(self._eta)))
        object.__setattr__(self, "_keras_lr_step_grads", step_grads)
        object.__setattr__(self, "_keras_lr_skip", ops.logical_not(finite))

    def update_step(self, gradient, variable, learning_rate):
        grad = ops.cast(self._keras_lr_step_grads[self.index(variable)], variable.dtype)
        eta = ops.cast(self._eta, variable.dtype)
        x = ops.convert_to_tensor(variable)
        self.assign(variable, ops.where(self._keras_lr_skip, x, x - self.scaled(eta * grad)))

    def effective_learning_rate(self, step=None):
        """`eta`: the step size of the last step."""
        return ops.convert_to_tensor(self._eta)


def _multi_replica():
    """Whether this runs in a replica of a multi-replica `tf.distribute`
    strategy (the TensorFlow backend's `strategy.run`)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return context is not None and context.num_replicas_in_sync > 1
