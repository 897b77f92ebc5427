"""`Prodigy`: Adam that estimates its own step size (Mishchenko and Defazio, 2023)."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers._global_step import all_finite
from keras_lr.optimizers._global_step import copy_initializer
from keras_lr.optimizers._global_step import validate_growth_rate

__all__ = ["Prodigy"]


@keras.saving.register_keras_serializable(package="keras_lr")
class Prodigy(GlobalStepOptimizer):
    """Prodigy: an Adam whose step size `d` is estimated while training.

    The update of the reference implementation (`prodigyopt` 1.1.2, Konstantin
    Mishchenko and Aaron Defazio), step for step. With `lr` the learning rate
    (1.0, or a schedule around 1: cosine decay is the authors' advice), `g`
    each variable's gradient, `x0` its initial value, `k` the step and
    `bc = sqrt(1 - beta_2**(k+1)) / (1 - beta_1**(k+1))`:

    ```
    dlr     = d * lr * bc
    m       = beta_1 * m + d * (1 - beta_1) * g
    v       = beta_2 * v + d**2 * (1 - beta_2) * g**2
    s       = beta_3 * s + (d / d0) * (d if safeguard_warmup else dlr) * g
    r       = beta_3 * r + (d / d0) * dlr * <g, x0 - x>        (over all variables)
    d_hat   = d_coef * r / sum(|s|)
    d       = min(max(d_max, d_hat), d * growth_rate)          (d_max = max d_hat so far)
    x      -= dlr * weight_decay * x                            (decoupled decay)
    x      -= dlr * m / (sqrt(v) + d * epsilon)
    ```

    `d` starts at `d0` (tiny) and grows to the scale of the distance to the
    solution, so the effective step size `d * lr` needs no tuning. A step
    with a NaN or infinite gradient anywhere is skipped entirely (moments,
    estimate and weights stay, as a `LossScaleOptimizer` skips one), so it
    cannot poison `d`; the loss still shows it to `TerminateOnNaN` or
    `keras_lr.callbacks.DivergenceGuard`;
    `effective_learning_rate()` reports it (and `LearningRateLogger` logs it
    as `effective_learning_rate`). `s` and `x0` can be kept on every
    `slice_p`-th element only, to save memory.

    Args:
        learning_rate: Float or `LearningRateSchedule`, a multiplier of the
            estimated step size. Defaults to `1.0`.
        beta_1: Float in [0, 1). Defaults to `0.9`.
        beta_2: Float in [0, 1). Defaults to `0.999`.
        beta_3: Float in [0, 1) or None (then `sqrt(beta_2)`). Defaults to
            `None`.
        epsilon: Float > 0. Defaults to `1e-8`.
        weight_decay: Float >= 0. Decoupled (AdamW-style, scaled by `d * lr`)
            with `decouple=True`, else added to the gradient. Defaults to
            `0.0`.
        decouple: Bool. Defaults to `True`.
        use_bias_correction: Bool. Adam's bias correction in `dlr`. Defaults
            to `False` (the reference's).
        safeguard_warmup: Bool. Leaves the learning rate out of the
            denominator `s` (the reference's advice with a warmup schedule).
            Defaults to `False`.
        d0: Float > 0. The initial estimate. Defaults to `1e-6`.
        d_coef: Float > 0. Scales the estimate. Defaults to `1.0`.
        growth_rate: Float > 1 or `inf`. The most `d` may grow per step.
            Defaults to `inf`.
        slice_p: Integer >= 1. Keep `s` and `x0` on every `slice_p`-th
            element. Defaults to `1`.
        name: String. Defaults to `"prodigy"`.
        **kwargs: Keras optimizer arguments (`loss_scale_factor`, `use_ema`,
            ...); gradient clipping and accumulation are refused (the
            estimate would see other gradients than the update).

    Raises:
        ValueError: for an argument out of range.

    Example:

    ```python
    >>> optimizer = keras_lr.optimizers.Prodigy(
    ...     keras.optimizers.schedules.CosineDecay(1.0, decay_steps=1000))
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=optimizer, loss="mse")

    ```

    Reference:
        [Mishchenko and Defazio, 2023, "Prodigy: An Expeditiously Adaptive
        Parameter-Free Learner"](https://arxiv.org/abs/2306.06101).
    """

    learning_rate_is_multiplier = True

    def __init__(self, learning_rate=1.0, beta_1=0.9, beta_2=0.999, beta_3=None,
                 epsilon=1e-8, weight_decay=0.0, decouple=True, use_bias_correction=False,
                 safeguard_warmup=False, d0=1e-6, d_coef=1.0, growth_rate=float("inf"),
                 slice_p=1, name="prodigy", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _validation.require_number("beta_1", beta_1, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.beta_2 = _validation.require_number("beta_2", beta_2, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.beta_3 = None if beta_3 is None else _validation.require_number(
            "beta_3", beta_3, minimum=0, maximum=1, max_inclusive=False)
        self.epsilon = _validation.require_positive("epsilon", epsilon)
        self.prodigy_weight_decay = _validation.require_non_negative(
            "weight_decay", weight_decay)
        self.decouple = _validation.require_bool("decouple", decouple)
        self.use_bias_correction = _validation.require_bool(
            "use_bias_correction", use_bias_correction)
        self.safeguard_warmup = _validation.require_bool("safeguard_warmup", safeguard_warmup)
        self.d0 = _validation.require_positive("d0", d0)
        self.d_coef = _validation.require_positive("d_coef", d_coef)
        self.growth_rate = validate_growth_rate(growth_rate)
        self.slice_p = _validation.require_int("slice_p", slice_p, minimum=1)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._d = self.add_scalar("d", self.d0)
        self._d_max = self.add_scalar("d_max", self.d0)
        self._d_numerator = self.add_scalar("d_numerator", 0.0)
        self._dlr = self.add_scalar("dlr", 0.0)
        if self.beta_1 > 0:
            self._exp_avgs = self.add_optimizer_variables(var_list, "exp_avg")
        self._exp_avg_sqs = self.add_optimizer_variables(var_list, "exp_avg_sq")
        self._s = [self.add_variable((self._sliced_size(v),), name="s") for v in var_list]
        self._x0 = [
            self.add_variable((self._sliced_size(v),), name="x0",
                              initializer=copy_initializer(v, self._sliced))
            for v in var_list]

    def _sliced_size(self, variable):
        size = 1
        for dim in variable.shape:
            size *= int(dim)
        return -(-size // self.slice_p)

    def _sliced(self, value):
        return ops.reshape(value, (-1,))[:: self.slice_p]

    @property
    def _beta_3(self):
        return self.beta_2 ** 0.5 if self.beta_3 is None else self.beta_3

    def prepare_step(self, grads, variables, learning_rate):
        """The pass over all variables before any update: the moments, `s`,
        and the new estimate `d` (Prodigy's `step`, up to the update)."""
        d = ops.convert_to_tensor(self._d)
        k = ops.cast(self.iterations, "float32")
        lr = ops.cast(learning_rate, "float32")
        if self.use_bias_correction:
            bias = ops.sqrt(1.0 - ops.power(self.beta_2, k + 1.0)) / (
                1.0 - ops.power(self.beta_1, k + 1.0))
        else:
            bias = 1.0
        dlr = d * lr * bias
        beta_3 = self._beta_3
        scale = d / self.d0
        delta_numerator = 0.0
        d_denom = 0.0
        # A NaN/inf gradient anywhere: the whole step is skipped (moments,
        # estimate, weights), as LossScaleOptimizer skips one.
        finite = all_finite(grads)
        keep = lambda new, old: ops.where(finite, new, ops.convert_to_tensor(old))  # noqa: E731
        for grad, variable in zip(grads, variables):
            index = self.index(variable)
            grad = ops.cast(grad, "float32")
            x = ops.convert_to_tensor(variable)
            if self.prodigy_weight_decay and not self.decouple:
                grad = grad + self.prodigy_weight_decay * x
            self._keras_lr_step_grads[index] = grad
            sliced = self._sliced(grad)
            delta_numerator = delta_numerator + scale * dlr * ops.sum(
                sliced * (ops.convert_to_tensor(self._x0[index]) - self._sliced(x)))
            if self.beta_1 > 0:
                m = self._exp_avgs[index]
                self.assign(m, keep(m * self.beta_1 + d * (1 - self.beta_1) * grad, m))
            v = self._exp_avg_sqs[index]
            self.assign(v, keep(v * self.beta_2 + d * d * (1 - self.beta_2) * ops.square(grad),
                                v))
            s = self._s[index]
            weight = d if self.safeguard_warmup else dlr
            self.assign(s, keep(s * beta_3 + scale * weight * sliced, s))
            d_denom = d_denom + ops.sum(ops.abs(ops.convert_to_tensor(s)))
        d_max = ops.convert_to_tensor(self._d_max)
        old_numerator = ops.convert_to_tensor(self._d_numerator)
        numerator = old_numerator * beta_3 + delta_numerator
        d_hat = self.d_coef * numerator / ops.where(d_denom > 0, d_denom, 1.0)
        d_denom = ops.where(finite, d_denom, 0.0)
        grow = ops.logical_and(lr > 0, d_denom > 0)
        new_d = ops.where(ops.equal(d, self.d0), ops.maximum(d, d_hat), d)
        new_d_max = ops.maximum(d_max, d_hat)
        new_d = ops.minimum(new_d_max, new_d * self.growth_rate)
        self.assign(self._d, ops.where(grow, new_d, d))
        self.assign(self._d_max, ops.where(grow, new_d_max, d_max))
        self.assign(self._d_numerator, ops.where(d_denom > 0, numerator, old_numerator))
        self.assign(self._dlr, dlr)
        object.__setattr__(self, "_keras_lr_skip", ops.logical_not(d_denom > 0))

    def update_step(self, gradient, variable, learning_rate):
        index = self.index(variable)
        dlr = ops.cast(self._dlr, variable.dtype)
        d = ops.cast(self._d, variable.dtype)
        denom = ops.sqrt(ops.convert_to_tensor(self._exp_avg_sqs[index])) + d * self.epsilon
        x = ops.convert_to_tensor(variable)
        if self.beta_1 > 0:
            step = dlr * ops.convert_to_tensor(self._exp_avgs[index]) / denom
        else:
            step = dlr * d * self._keras_lr_step_grads[index] / denom
        new = x
        if self.prodigy_weight_decay and self.decouple:
            new = new - self.prodigy_weight_decay * dlr * new
        # No gradient anywhere (sum |s| = 0, the reference takes no step), or
        # a non-finite one (skipped).
        self.assign(variable, ops.where(self._keras_lr_skip, x, self.scaled_move(x, new - step)))

    def effective_learning_rate(self, step=None):
        """`d * lr`: the step size this optimizer uses now (at `step`)."""
        return self._d * self.learning_rate_at(step)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1, "beta_2": self.beta_2, "beta_3": self.beta_3,
            "epsilon": self.epsilon, "weight_decay": self.prodigy_weight_decay,
            "decouple": self.decouple, "use_bias_correction": self.use_bias_correction,
            "safeguard_warmup": self.safeguard_warmup, "d0": self.d0, "d_coef": self.d_coef,
            "growth_rate": self.growth_rate, "slice_p": self.slice_p,
        })
        return config
