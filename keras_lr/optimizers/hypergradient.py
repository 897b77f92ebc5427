"""`Hypergradient`: hypergradient descent on the learning rate (Baydin et al., 2018)."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer as learning_rate_owner
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.optimizers._wrapper import safe_name
from keras_lr.optimizers._wrapper import sum_over_replicas

__all__ = ["Hypergradient"]


@keras.saving.register_keras_serializable(package="keras_lr")
class Hypergradient(OptimizerWrapper):
    """Learns the learning rate online by hypergradient descent.

    Baydin et al., "Online Learning Rate Adaptation with Hypergradient
    Descent" (ICLR 2018). At every step, before the wrapped optimizer's
    update, the learning rate takes one gradient step on the loss:

    `lr_t = clip(lr_(t-1) + hypergradient_lr * g_t . u_(t-1), min_lr, max_lr)`

    where `g_t` is the current gradient and `u_(t-1)` the previous update per
    unit of learning rate, `(theta_(t-2) - theta_(t-1)) / lr_(t-1)`, both over
    all trainable variables (`-g_t . u_(t-1)` is the derivative of the loss
    with respect to the learning rate used at the previous step). The cost is
    one extra copy of the variables (the last update) and a dot product.

    - SGD: `u = g`, the paper's **SGD-HD**.
    - SGD with Nesterov momentum: `u` is the momentum update per unit of
      learning rate, the paper's **SGDN-HD** (Keras's momentum convention
      keeps the learning rate inside the velocity; with a constant learning
      rate the two conventions are the same update).
    - Adam: `u = m_hat / (sqrt(v_hat) + epsilon)` (Keras's epsilon
      placement), the paper's **Adam-HD**.
    - Any other optimizer: the same rule with its own update direction, which
      is the exact derivative of its last update with respect to the learning
      rate for every Keras optimizer whose update is linear in the learning
      rate (all but Adafactor with `relative_step=True`). Decoupled weight
      decay is part of the update, so it is included.

    `rule="multiplicative"` uses the same signal normalised, so that
    `hypergradient_lr` has no units:
    `lr_t = lr_(t-1) * (1 + hypergradient_lr * cos(g_t, u_(t-1)))`; the rate
    changes by at most `hypergradient_lr` (relative) per step, whatever the
    model's size or the gradient's scale. From a poorly chosen rate it is the
    more reliable of the two, and with a warm-up (below) it also recovers from
    a start ten times too large (see `benchmarks/hypergradient.py`).

    The learned learning rate *is* the wrapped optimizer's `learning_rate`
    variable: `.keras` files and `BackupAndRestore` save and restore it,
    `optimizer.learning_rate` and `keras_lr.callbacks.LearningRateLogger`
    report it. Gradients enter the dot product before clipping (the paper's
    gradient); under `tf.distribute` the per-replica dot products are summed.

    `warmup_steps > 0` protects a start that is too large. No rule can react
    before its second step (the first has no previous update), and a rate ten
    times too large can wreck a model in that step. With a warm-up, the first
    step is taken at `warmup_start` times the initial rate; for the next
    `warmup_steps` steps the rate climbs geometrically back towards the
    initial rate (by `(1 / warmup_start) ** (1 / warmup_steps)` a step, never
    above it) while the hypergradient is >= 0, and follows the rule whenever
    the hypergradient is negative, which stops the climb where the previous
    step started to overshoot. After that, the rule alone. If nothing stops
    it, the rate is back at the initial rate at step `warmup_steps`.

    Under `keras_lr.find_lr` (or the `LRFinder` callback) the sweep owns the
    rate and the wrapper steps aside; the finder restores everything after.
    The learning-rate control callbacks cannot be combined with it (they
    raise). With the additive rule a rate that reaches 0 stays there (no
    update, no hypergradient): keep `min_lr` above 0 if that can happen.

    Args:
        optimizer: The Keras optimizer to wrap. Its learning rate must be a
            float: the initial learning rate.
        hypergradient_lr: Float > 0. The hypergradient step size `beta`. The
            paper uses `1e-3` for SGD-HD / SGDN-HD and `1e-7` for Adam-HD
            (Adam's update direction is about 1 per weight). Defaults to
            `None`: for the additive rule `1e-7` for optimizers with a
            `beta_2` (Adam family), `1e-3` otherwise; `0.05` for the
            multiplicative rule.
        min_lr: Float >= 0. Lower bound of the learned rate. Defaults to `0`.
        max_lr: Float > `min_lr`, or `None` for no upper bound. Defaults to
            `None`.
        rule: `"additive"` (the paper's rule, the default) or
            `"multiplicative"` (normalised, unitless `hypergradient_lr`).
        warmup_steps: Integer >= 0. Length of the warm-up described above.
            Defaults to `0` (none: the paper's rule from the first step).
        warmup_start: Float in (0, 1). The first step's rate, as a fraction
            of the initial rate, when `warmup_steps > 0`. Defaults to `0.01`.
        name: String. Defaults to `"hypergradient"`.

    Raises:
        TypeError: if `optimizer` is not a Keras optimizer.
        ValueError: if the wrapped optimizer's learning rate is a schedule,
            or an argument is out of range.

    Example:

    ```python
    >>> optimizer = keras_lr.optimizers.Hypergradient(
    ...     keras.optimizers.SGD(0.001), hypergradient_lr=1e-3)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> _ = model.fit(x, x @ np.array([[2.0], [-1.0]], "float32"), epochs=3, verbose=0)
    >>> float(optimizer.learning_rate) > 0.01  # it learnt a larger rate
    True

    ```
    """

    # The control callbacks (ReduceLROnPlateau, ...) refuse an optimizer
    # chain that learns its own rate (keras_lr._core.learning_rate).
    learns_learning_rate = True

    def __init__(self, optimizer, hypergradient_lr=None, min_lr=0.0, max_lr=None,
                 rule="additive", warmup_steps=0, warmup_start=0.01,
                 name="hypergradient"):
        _validation.require_type(
            "optimizer", optimizer, keras.optimizers.Optimizer,
            "a Keras optimizer instance (e.g. `keras.optimizers.SGD(0.01)`)")
        base = learning_rate_owner(optimizer)
        if not isinstance(keras_private.learning_rate_slot(base), keras.Variable):
            raise ValueError(
                "Hypergradient learns the learning rate itself: the wrapped "
                "optimizer's learning rate must be a float (the initial "
                f"value). Received: learning_rate={keras_private.learning_rate_slot(base)!r}")
        _validation.require_one_of("rule", rule, ("additive", "multiplicative"))
        if hypergradient_lr is None:
            if rule == "multiplicative":
                hypergradient_lr = 0.05
            else:
                hypergradient_lr = 1e-7 if hasattr(base, "beta_2") else 1e-3
        hypergradient_lr = _validation.require_positive(
            "hypergradient_lr", hypergradient_lr)
        min_lr = _validation.require_non_negative("min_lr", min_lr)
        if max_lr is not None:
            max_lr = _validation.require_number(
                "max_lr", max_lr, minimum=min_lr, min_inclusive=False)
        warmup_steps = _validation.require_int(
            "warmup_steps", warmup_steps, minimum=0)
        warmup_start = _validation.require_number(
            "warmup_start", warmup_start, minimum=0.0, maximum=1.0,
            min_inclusive=False, max_inclusive=False)
        super().__init__(optimizer, name=name)
        self.hypergradient_lr = hypergradient_lr
        self.min_lr = min_lr
        self.max_lr = max_lr
        self.rule = rule
        self.warmup_steps = warmup_steps
        self.warmup_start = warmup_start

    def _build_own_variables(self):
        base = learning_rate_owner(self.inner_optimizer)
        # The last update per unit of learning rate, one per variable (between
        # steps it briefly holds the variable's value before the update).
        self._directions = [
            self.add_variable(
                shape=v.shape, dtype=v.dtype, initializer="zeros",
                aggregation="only_first_replica", name=f"{safe_name(v.path)}_hd_direction")
            for v in keras_private.trainable_variables(base)]
        if self.warmup_steps:
            # The initial rate, the warm-up's ceiling (set at the first step).
            self._warmup_target = self.add_step_value("warmup_target")

    def _update(self, base, grads, variables, update):
        lr = keras_private.learning_rate_slot(base)
        if not isinstance(lr, keras.Variable):
            _check_not_controlled(lr)
            # The LR finder's temporary sweep owns the rate: plain updates.
            update(grads, variables)
            return
        directions = [self._directions[keras_private.variable_index(base, v)] for v in variables]
        # 1. The hypergradient step on the learning rate (the gradients are
        # unscaled already).
        multiplicative = self.rule == "multiplicative"
        pairs = list(zip(grads, directions))
        if multiplicative and pairs:
            # |g| needs the whole gradient: sum the replicas' parts first
            # (the additive rule only needs the sum of per-replica dots).
            summed = sum_over_replicas([g for g, _ in pairs])
            pairs = list(zip(summed, [d for _, d in pairs]))
        dot = ops.convert_to_tensor(0.0, "float32")
        g_norm = ops.convert_to_tensor(0.0, "float32")
        u_norm = ops.convert_to_tensor(0.0, "float32")
        for g, d in pairs:
            g = ops.cast(g, "float32")
            d = ops.cast(d, "float32")
            dot = dot + ops.sum(g * d)
            if multiplicative:
                g_norm = g_norm + ops.sum(g * g)
                u_norm = u_norm + ops.sum(d * d)
        lr_before = ops.cast(lr, "float32")
        if multiplicative:
            cosine = dot / ops.maximum(ops.sqrt(g_norm * u_norm), 1e-30)
            new_lr = lr_before * (1.0 + self.hypergradient_lr * cosine)
        else:
            dot = sum_over_replicas(dot)
            new_lr = lr_before + self.hypergradient_lr * dot
        if self.warmup_steps:
            new_lr = self._warm_up(base, lr_before, new_lr, dot)
        new_lr = ops.maximum(new_lr, self.min_lr)
        if self.max_lr is not None:
            new_lr = ops.minimum(new_lr, self.max_lr)
        lr.assign(ops.cast(new_lr, lr.dtype))
        # 2. The rest of the update at the new rate, recorded.
        for v, d in zip(variables, directions):
            d.assign(v)
        update(grads, variables)
        inverse = 1.0 / ops.maximum(ops.cast(lr, "float32"), 1e-30)
        for v, d in zip(variables, directions):
            d.assign((d - v) * ops.cast(inverse, d.dtype))

    def _warm_up(self, base, lr, rule_lr, signal):
        """The rate of a warm-up step: see the class docstring."""
        step = ops.cast(base.iterations, "float32")
        first = ops.equal(step, 0.0)
        target = ops.where(first, lr, self._warmup_target.value)
        self._warmup_target.assign(target)
        growth = (1.0 / self.warmup_start) ** (1.0 / self.warmup_steps)
        climb = ops.minimum(lr * growth, target)
        warm = ops.where(ops.greater_equal(signal, 0.0), climb, rule_lr)
        after = ops.where(ops.less_equal(step, float(self.warmup_steps)), warm, rule_lr)
        return ops.where(first, lr * self.warmup_start, after)

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": self._inner_config(),
            "hypergradient_lr": self.hypergradient_lr,
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "rule": self.rule,
            "warmup_steps": self.warmup_steps,
            "warmup_start": self.warmup_start,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = cls._deserialize_inner(
            config["optimizer"], custom_objects)
        return cls(**config)


def _check_not_controlled(learning_rate):
    from keras_lr._core.learning_rate import ControlledSchedule

    if isinstance(learning_rate, ControlledSchedule):
        raise ValueError(
            "Hypergradient learns the learning rate itself; keras-lr's "
            "learning-rate control callbacks (ReduceLROnPlateau, BoldDriver, "
            "DivergenceGuard) cannot also change it. Use one or the other "
            "(`Hypergradient(..., min_lr=..., max_lr=...)` bounds the rate).")

