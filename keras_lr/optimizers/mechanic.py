"""`Mechanic`: learns the scale of any optimizer's updates (Cutkosky,
Defazio and Mehta, 2023)."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer as learning_rate_owner
from keras_lr.optimizers._global_step import all_finite
from keras_lr.optimizers._global_step import copy_initializer
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.optimizers._wrapper import safe_name
from keras_lr.optimizers._wrapper import sum_over_replicas

__all__ = ["Mechanic"]


@keras.saving.register_keras_serializable(package="keras_lr")
class Mechanic(OptimizerWrapper):
    """Mechanic: wraps any Keras optimizer and learns the scale of its steps.

    The update of `optax.contrib.mechanize` (optax 0.2.8), step for step.
    The wrapped optimizer proposes its update `u_t` from the raw gradient;
    Mechanic keeps the sum of the proposals `delta` and places the weights at
    `x_0 + s * delta`, where the scale `s = sum(s_i)` is learned online by
    `num_betas` coin-betting accumulators with betas `1 - 10**-i`:

    ```
    g~   = g + weight_decay * s * ||g|| / (||x|| + eps) * x
    h    = g~ . (x_0 - x) / (s + eps)                    (one number, all weights)
    m_i  = max(beta_i * m_i, |h| + eps)       v_i = beta_i**2 * v_i + h**2
    r_i  = beta_i * r_i + clip(h, -m_i, m_i) * s_i
    s_i  = (s_init / num_betas * m_i + max(r_i, 0)) / (sqrt(v_i) + eps)
    x    = x_0 - s * ((x_0 - x) / (s_old + eps) - u_t)
    ```

    `x_0` is the weights at the first step. Keep the wrapped optimizer's
    learning rate at a constant (1e-3 for Adam, ~1 for SGD) or a schedule
    whose shape you want (Mechanic finds the scale, not the shape);
    `effective_learning_rate()` is `s` times that rate, logged by
    `LearningRateLogger` as `effective_learning_rate`. It costs one copy of
    the weights (`x_0`) and a few passes over them per step.

    With `LRMultiplier` (`Mechanic(LRMultiplier(Adam(), ...))`) each layer's
    proposed update is scaled by its multiplier before Mechanic's one global
    scale: the ratios between layers stay the ones you set. Gradient clipping
    of the wrapped optimizer applies to its proposal only (`h` sees the raw
    gradient, as in optax). Under `tf.distribute` the gradients are summed
    over the replicas before the norms and `h`.

    A step with a NaN or infinite gradient leaves the weights and Mechanic's
    state as they were; the wrapped optimizer is given a zero gradient for
    it (its moments decay one step and its step count advances), so its
    slots are not poisoned either.

    Args:
        optimizer: The Keras optimizer whose updates are scaled.
        weight_decay: Float >= 0: Mechanic's own decay of the gradient it
            learns from (not the wrapped optimizer's). Defaults to `1e-2`.
        epsilon: Float > 0. Defaults to `1e-8`.
        s_init: Float > 0: the initial scale. Defaults to `1e-6`.
        num_betas: Integer >= 1: the accumulators, betas
            `0.9, 0.99, ..., 1 - 10**-num_betas`. Defaults to `6`.
        name: String. Defaults to `"mechanic"`.

    Raises:
        TypeError: if `optimizer` is not a Keras optimizer.
        ValueError: for an argument out of range, or an optimizer keras-lr
            wrappers cannot wrap.

    Example:

    >>> optimizer = keras_lr.optimizers.Mechanic(keras.optimizers.Adam(1e-3))
    >>> model.compile(optimizer, "mse")  # doctest: +SKIP

    Reference:
        [Cutkosky, Defazio and Mehta, 2023, "Mechanic: A Learning Rate
        Tuner"](https://arxiv.org/abs/2306.00144).
    """

    def __init__(self, optimizer, weight_decay=1e-2, epsilon=1e-8, s_init=1e-6, num_betas=6,
                 name="mechanic"):
        inner = optimizer
        while inner is not None:
            if isinstance(inner, Mechanic):
                raise ValueError(
                    "Argument `optimizer` already holds a Mechanic: two would learn "
                    "the same scale twice (the outer one trains nothing). Wrap the "
                    f"optimizer once. Received: optimizer={optimizer!r}")
            inner = getattr(inner, "inner_optimizer", None)
        super().__init__(optimizer, name=name)
        self.mechanic_weight_decay = _validation.require_non_negative(
            "weight_decay", weight_decay)
        self.epsilon = _validation.require_positive("epsilon", epsilon)
        self.s_init = _validation.require_positive("s_init", s_init)
        self.num_betas = _validation.require_int("num_betas", num_betas, minimum=1)

    def _build_own_variables(self):
        base = learning_rate_owner(self.inner_optimizer)
        shape = (self.num_betas,)

        def vector(name, value):
            return self.add_variable(
                shape, initializer=keras.initializers.Constant(value), dtype="float32",
                aggregation="only_first_replica", name=name)

        self._s = vector("s", self.s_init)
        self._m = vector("m", 0.0)
        self._v = vector("v", 0.0)
        self._r = vector("r", 0.0)
        self._count = self.add_variable((), initializer="zeros", dtype="int32",
                                        aggregation="only_first_replica", name="count")
        self._x0 = [self.add_variable(tuple(v.shape), name=f"{safe_name(v.path)}_x0",
                                      aggregation="only_first_replica",
                                      initializer=copy_initializer(v))
                    for v in keras_private.trainable_variables(base)]

    def _update(self, base, grads, variables, update):
        grads = [ops.cast(g, "float32") for g in grads]
        summed = sum_over_replicas(grads)
        finite = all_finite(summed)
        first = ops.equal(self._count, 0)
        x0s = [self._x0[keras_private.variable_index(base, v)] for v in variables]
        xs = [ops.cast(ops.copy(ops.convert_to_tensor(v)), "float32") for v in variables]
        starts = [ops.where(first, x, ops.convert_to_tensor(x0)) for x, x0 in zip(xs, x0s)]
        s_old = ops.convert_to_tensor(self._s)
        s_sum = ops.sum(s_old)
        eps = self.epsilon
        grad_norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in summed))
        param_norm = ops.sqrt(sum(ops.sum(ops.square(x)) for x in xs))
        decay = self.mechanic_weight_decay * s_sum * grad_norm / (param_norm + eps)
        deltas = [(x0 - x) / (s_sum + eps) for x, x0 in zip(xs, starts)]
        h = sum(ops.sum((g + decay * x) * d) for g, x, d in zip(summed, xs, deltas))
        h = ops.where(finite, h, 0.0)
        betas = ops.convert_to_tensor(
            [1.0 - 0.1 ** i for i in range(1, self.num_betas + 1)], "float32")
        m_old = ops.convert_to_tensor(self._m)
        clipped = ops.minimum(ops.maximum(h, -m_old), m_old)
        m = ops.maximum(betas * m_old, ops.abs(h) + eps)
        v = ops.square(betas) * ops.convert_to_tensor(self._v) + ops.square(h)
        r = betas * ops.convert_to_tensor(self._r) + clipped * s_old
        wealth = self.s_init / self.num_betas * m + ops.maximum(r, 0.0)
        s = wealth / (ops.sqrt(v) + eps)
        # The wrapped optimizer's proposal, from the raw gradient.
        update([ops.where(finite, g, ops.zeros_like(g)) for g in grads], variables)
        scale = ops.sum(s)
        for variable, x, x0, delta in zip(variables, xs, starts, deltas):
            proposal = ops.cast(ops.convert_to_tensor(variable), "float32") - x
            new = x0 - scale * (delta - proposal)
            variable.assign(ops.cast(ops.where(finite, new, x), variable.dtype))
        for x0_variable, x0 in zip(x0s, starts):
            x0_variable.assign(ops.where(finite, x0, ops.convert_to_tensor(x0_variable)))
        for variable, value in ((self._s, s), (self._m, m), (self._v, v), (self._r, r)):
            variable.assign(ops.where(finite, value, ops.convert_to_tensor(variable)))
        self._count.assign(self._count + ops.cast(finite, "int32"))

    def scale(self):
        """`s`: the learned scale of the wrapped optimizer's updates."""
        return ops.sum(ops.convert_to_tensor(self._s))

    def effective_learning_rate(self, step=None):
        """`s` times the wrapped optimizer's learning rate at `step`."""
        base = learning_rate_owner(self.inner_optimizer)
        rate = keras_private.learning_rate_slot(base)
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(base.iterations if step is None else step)
        return self.scale() * ops.cast(rate, "float32")

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": self._inner_config(),
            "weight_decay": self.mechanic_weight_decay,
            "epsilon": self.epsilon,
            "s_init": self.s_init,
            "num_betas": self.num_betas,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = cls._deserialize_inner(config["optimizer"], custom_objects)
        return cls(**config)

