"""`DAdaptAdam`: Adam with D-Adaptation of the step size (Defazio and Mishchenko, 2023)."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers._global_step import all_finite
from keras_lr.optimizers._global_step import validate_growth_rate

__all__ = ["DAdaptAdam"]


@keras.saving.register_keras_serializable(package="keras_lr")
class DAdaptAdam(GlobalStepOptimizer):
    """D-Adaptation Adam: Adam whose step size `d` is a lower bound on the
    distance to the solution, estimated while training.

    The update of the reference implementation (`dadaptation` 3.2,
    `DAdaptAdam`), step for step. With `lr` the learning rate (1.0, or a
    schedule around 1), `g` each variable's gradient, `k` the step,
    `bc = sqrt(1 - beta_2**(k+1)) / (1 - beta_1**(k+1))` (1 without bias
    correction) and `b = sqrt(beta_2)`:

    ```
    dlr   = d * lr * bc
    num   = b * num + (1 - b) * dlr * <g, s / (sqrt(v) + eps)>  (over all variables, old s, v)
    m     = beta_1 * m + dlr * (1 - beta_1) * g
    v     = beta_2 * v + (1 - beta_2) * g**2
    s     = b * s + dlr * (1 - b) * g
    d     = max(d, min(num / ((1 - b) * sum(|s|)), d * growth_rate))
    x    -= dlr * weight_decay * x                              (decoupled decay)
    x    -= m / (sqrt(v) + eps)
    ```

    `effective_learning_rate()` reports `d * lr` (logged by
    `LearningRateLogger` as `effective_learning_rate`). A step with a NaN or
    infinite gradient is skipped entirely, as with `Prodigy`.

    Args:
        learning_rate: Float or `LearningRateSchedule`. Defaults to `1.0`.
        beta_1: Float in [0, 1). Defaults to `0.9`.
        beta_2: Float in [0, 1). Defaults to `0.999`.
        epsilon: Float > 0. Defaults to `1e-8`.
        weight_decay: Float >= 0. Defaults to `0.0`.
        decouple: Bool. AdamW-style decay (scaled by `d * lr`) instead of
            adding it to the gradient. Defaults to `False` (the reference's).
        use_bias_correction: Bool. Defaults to `False`.
        d0: Float > 0. The initial estimate. Defaults to `1e-6`.
        growth_rate: Float > 1 or `inf`. Defaults to `inf`.
        name: String. Defaults to `"dadapt_adam"`.
        **kwargs: Keras optimizer arguments; gradient clipping and
            accumulation are refused.

    Raises:
        ValueError: for an argument out of range.

    Reference:
        [Defazio and Mishchenko, 2023, "Learning-Rate-Free Learning by
        D-Adaptation"](https://arxiv.org/abs/2301.07733).
    """

    learning_rate_is_multiplier = True

    def __init__(self, learning_rate=1.0, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 weight_decay=0.0, decouple=False, use_bias_correction=False, d0=1e-6,
                 growth_rate=float("inf"), name="dadapt_adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _validation.require_number("beta_1", beta_1, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.beta_2 = _validation.require_number("beta_2", beta_2, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.epsilon = _validation.require_positive("epsilon", epsilon)
        self.dadapt_weight_decay = _validation.require_non_negative(
            "weight_decay", weight_decay)
        self.decouple = _validation.require_bool("decouple", decouple)
        self.use_bias_correction = _validation.require_bool(
            "use_bias_correction", use_bias_correction)
        self.d0 = _validation.require_positive("d0", d0)
        self.growth_rate = validate_growth_rate(growth_rate)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._d = self.add_scalar("d", self.d0)
        self._numerator = self.add_scalar("numerator_weighted", 0.0)
        self._dlr = self.add_scalar("dlr", 0.0)
        self._exp_avgs = self.add_optimizer_variables(var_list, "exp_avg")
        self._exp_avg_sqs = self.add_optimizer_variables(var_list, "exp_avg_sq")
        self._s = self.add_optimizer_variables(var_list, "s")

    def prepare_step(self, grads, variables, learning_rate):
        """The pass over all variables before any update."""
        d = ops.convert_to_tensor(self._d)
        k = ops.cast(self.iterations, "float32")
        lr = ops.cast(learning_rate, "float32")
        if self.use_bias_correction:
            bias = ops.sqrt(1.0 - ops.power(self.beta_2, k + 1.0)) / (
                1.0 - ops.power(self.beta_1, k + 1.0))
        else:
            bias = 1.0
        dlr = d * lr * bias
        root = self.beta_2 ** 0.5
        finite = all_finite(grads)
        keep = lambda new, old: ops.where(finite, new, ops.convert_to_tensor(old))  # noqa: E731
        numerator = 0.0
        sk_l1 = 0.0
        for grad, variable in zip(grads, variables):
            index = self.index(variable)
            grad = ops.cast(grad, "float32")
            if self.dadapt_weight_decay and not self.decouple:
                grad = grad + self.dadapt_weight_decay * ops.convert_to_tensor(variable)
            m, v, s = self._exp_avgs[index], self._exp_avg_sqs[index], self._s[index]
            v_now, s_now = ops.convert_to_tensor(v), ops.convert_to_tensor(s)
            numerator = numerator + dlr * ops.sum(grad * s_now / (ops.sqrt(v_now) + self.epsilon))
            self.assign(m, keep(m * self.beta_1 + dlr * (1 - self.beta_1) * grad, m))
            self.assign(v, keep(v_now * self.beta_2 + (1 - self.beta_2) * ops.square(grad), v))
            new_s = s_now * root + dlr * (1 - root) * grad
            self.assign(s, keep(new_s, s))
            sk_l1 = sk_l1 + ops.sum(ops.abs(new_s))
        sk_l1 = ops.where(finite, sk_l1, 0.0)
        old = ops.convert_to_tensor(self._numerator)
        weighted = root * old + (1 - root) * numerator
        d_hat = weighted / ((1 - root) * ops.where(sk_l1 > 0, sk_l1, 1.0))
        new_d = ops.maximum(d, ops.minimum(d_hat, d * self.growth_rate))
        self.assign(self._d, ops.where(ops.logical_and(sk_l1 > 0, lr > 0), new_d, d))
        self.assign(self._numerator, ops.where(sk_l1 > 0, weighted, old))
        self.assign(self._dlr, dlr)
        object.__setattr__(self, "_keras_lr_skip", ops.logical_not(sk_l1 > 0))

    def update_step(self, gradient, variable, learning_rate):
        index = self.index(variable)
        dlr = ops.cast(self._dlr, variable.dtype)
        denom = ops.sqrt(ops.convert_to_tensor(self._exp_avg_sqs[index])) + self.epsilon
        x = ops.convert_to_tensor(variable)
        step = ops.convert_to_tensor(self._exp_avgs[index]) / denom
        new = x
        if self.dadapt_weight_decay and self.decouple:
            new = new - self.dadapt_weight_decay * dlr * new
        self.assign(variable, ops.where(self._keras_lr_skip, x, self.scaled_move(x, new - step)))

    def effective_learning_rate(self, step=None):
        """`d * lr`: the step size this optimizer uses now (at `step`)."""
        return self._d * self.learning_rate_at(step)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
            "weight_decay": self.dadapt_weight_decay, "decouple": self.decouple,
            "use_bias_correction": self.use_bias_correction, "d0": self.d0,
            "growth_rate": self.growth_rate,
        })
        return config
