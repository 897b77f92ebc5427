"""Schedule-Free AdamW and SGD (Defazio et al., 2024), with their evaluation point."""

import keras
import numpy as np
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers._global_step import all_finite
from keras_lr.optimizers._global_step import copy_initializer

__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD"]


class _ScheduleFree(GlobalStepOptimizer):
    """The shared part: the averaging weights and the two points.

    The model's variables hold the training point `y`, where gradients are
    taken; the optimizer keeps the base sequence `z` and the average `x`,
    the point to evaluate and to save. `use_evaluation_point(model)` puts `x`
    into the model, `use_training_point(model)` puts back `y = beta * x +
    (1 - beta) * z` (the update's own formula, so the round trip is exact);
    `keras_lr.callbacks.ScheduleFreeEval` calls them around validation,
    checkpoints and after `fit`.
    """

    def __init__(self, learning_rate, warmup_steps, r, weight_lr_power, name, **kwargs):
        if kwargs.get("use_ema"):
            raise ValueError(
                f"{type(self).__name__} does not take `use_ema=True`: its evaluation point "
                "`x` is already an average of the iterates (Keras's moving average would "
                "average the training point `y` instead, and leave that in the model "
                "after `fit`). Evaluate at `x` with `keras_lr.callbacks.ScheduleFreeEval`. "
                "Received: use_ema=True")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.warmup_steps = _validation.require_int("warmup_steps", warmup_steps, minimum=0)
        self.r = _validation.require_non_negative("r", r)
        self.weight_lr_power = _validation.require_non_negative(
            "weight_lr_power", weight_lr_power)

    @property
    def _beta(self):
        raise NotImplementedError

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._lr_max = self.add_scalar("lr_max", -1.0)
        self._weight_sum = self.add_scalar("weight_sum", 0.0)
        self._at_evaluation_point = self.add_scalar("at_evaluation_point", 0.0)
        self._z = [self.add_variable(tuple(v.shape), name="z", initializer=copy_initializer(v))
                   for v in var_list]
        self._x = [self.add_variable(tuple(v.shape), name="x", initializer=copy_initializer(v))
                   for v in var_list]

    # `effective_learning_rate(step)` is a function of the step (the
    # warmed-up rate), so `LearningRateLogger` logs it for every step.
    effective_rate_is_a_schedule = True

    def _warmup(self, k):
        if not self.warmup_steps:
            return 1.0
        return ops.minimum((ops.cast(k, "float32") + 1.0) / float(self.warmup_steps), 1.0)

    def effective_learning_rate(self, step=None):
        """The rate the step at `step` (default: the next one) uses: the
        learning rate times the linear warmup, `lr * min(1, (k + 1) /
        warmup_steps)`."""
        k = self.iterations if step is None else step
        return ops.cast(self.learning_rate_at(step), "float32") * self._warmup(k)

    def prepare_step(self, grads, variables, learning_rate):
        """The step's scalars: the warmed-up LR and the averaging weight.

        A step with a NaN or infinite gradient anywhere is skipped: `z`,
        `x`, the weights, the second moments and the averaging weights stay
        as they were (the references would make them NaN for good).
        """
        k = ops.cast(self.iterations, "float32")
        finite = all_finite(grads)
        lr = ops.cast(learning_rate, "float32") * self._warmup(k)
        lr_max = ops.maximum(lr, ops.convert_to_tensor(self._lr_max))
        weight = ops.power(k + 1.0, self.r) * ops.power(lr_max, self.weight_lr_power)
        weight_sum = ops.convert_to_tensor(self._weight_sum) + weight
        ckp1 = ops.where(weight_sum > 0, weight / ops.where(weight_sum > 0, weight_sum, 1.0),
                         0.0)
        self._keep_if(finite, self._lr_max, lr_max)
        self._keep_if(finite, self._weight_sum, weight_sum)
        object.__setattr__(self, "_keras_lr_step", (lr, ckp1, k))
        object.__setattr__(self, "_keras_lr_skip", ops.logical_not(finite))

    def _keep_if(self, condition, slot, new):
        self.assign(slot, ops.where(condition, new, ops.convert_to_tensor(slot)))

    def _keep(self, slot, new):
        """Assigns `new` to `slot` unless this step is skipped."""
        self.assign(slot, ops.where(self._keras_lr_skip, ops.convert_to_tensor(slot), new))

    def _average(self, index, z, ckp1):
        """`x = (1 - c) x + c z`, then `y = beta x + (1 - beta) z`."""
        x_slot = self._x[index]
        x = ops.convert_to_tensor(x_slot) * (1.0 - ckp1) + z * ckp1
        self._keep(x_slot, x)
        return x * self._beta + z * (1.0 - self._beta)

    # ---- the two points ----
    def use_evaluation_point(self, model):
        """Puts the average `x` into the model's variables (idempotent).

        Returns:
            Whether the variables changed (they held `y`).
        """
        return self._swap(model, to_evaluation=True)

    def use_training_point(self, model):
        """Puts the training point `y` back into the model (idempotent).

        If the model's weights were replaced while it held `x` (by
        `EarlyStopping(restore_best_weights=True)`, `set_weights` or
        `load_weights`), training goes on from those weights instead: `x`
        and `z` are set to them (the average restarts there), so the next
        step does not undo the replacement.

        Returns:
            Whether the variables changed (they held `x`).
        """
        return self._swap(model, to_evaluation=False)

    def _swap(self, model, to_evaluation):
        if not self.built:
            return False
        keras_private.jax_state_sync(model)
        at_evaluation = bool(float(ops.convert_to_numpy(self._at_evaluation_point)))
        if at_evaluation and not to_evaluation and self._weights_replaced():
            # The model holds weights that are not `x`: set from outside while
            # it was at the evaluation point (EarlyStopping's
            # `restore_best_weights`, `set_weights`, `load_weights`). Training
            # goes on from them: the average restarts there (`x = z = w`).
            self._restart_at_weights()
            return True
        if at_evaluation == to_evaluation:
            return False
        for variable in keras_private.trainable_variables(self):
            index = self.index(variable)
            x = ops.convert_to_tensor(self._x[index])
            if to_evaluation:
                variable.assign(ops.copy(x))  # not the slot's buffer (JAX donates it)
            else:
                z = ops.convert_to_tensor(self._z[index])
                variable.assign(x * self._beta + z * (1.0 - self._beta))
        self._at_evaluation_point.assign(1.0 if to_evaluation else 0.0)
        return True

    def evaluation_value(self, variable):
        """The average `x` of a trained variable (the value to evaluate it
        at), as a tensor; `use_evaluation_point(model)` puts all of them
        into a model."""
        return ops.convert_to_tensor(self._x[self.index(variable)])

    def _weights_replaced(self):
        """Whether a model variable differs from `x` (it should hold `x`)."""
        for variable in keras_private.trainable_variables(self):
            x = ops.convert_to_numpy(self._x[self.index(variable)])
            if not np.array_equal(ops.convert_to_numpy(variable), x):
                return True
        return False

    def _restart_at_weights(self):
        for variable in keras_private.trainable_variables(self):
            index = self.index(variable)
            value = ops.convert_to_tensor(variable)
            self._x[index].assign(ops.copy(value))
            self._z[index].assign(ops.copy(value))
        self._at_evaluation_point.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"warmup_steps": self.warmup_steps, "r": self.r,
                       "weight_lr_power": self.weight_lr_power})
        return config


@keras.saving.register_keras_serializable(package="keras_lr")
class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW, as the reference (`schedulefree` 1.4.1,
    `AdamWScheduleFreeReference`), with its evaluation point.

    No decay schedule and no stopping time to fix in advance: the iterates
    are averaged online. With `y` the model's variables (the training point,
    where the gradient `g` is taken), `z` the base sequence and `x` the
    average, at step `k` (from 0):

    ```
    lr     = learning_rate * min(1, (k + 1) / warmup_steps)
    lr_max = max(lr_max, lr);  w = (k + 1)**r * lr_max**weight_lr_power
    c      = w / sum(w)
    z     -= lr * weight_decay * (z if decay_at_z else y)
    v      = beta_2 * v + (1 - beta_2) * g**2
    z     -= lr * g / (sqrt(v / (1 - beta_2**(k+1))) + epsilon)
    x      = (1 - c) * x + c * z
    y      = beta_1 * x + (1 - beta_1) * z
    ```

    **Evaluate at `x`.** The model holds `y` while it trains; evaluation,
    prediction and saving should see `x`. Add
    `keras_lr.callbacks.ScheduleFreeEval()` to `fit` (before
    `ModelCheckpoint` / `BackupAndRestore`): validation, checkpoints and the
    model after `fit` then see `x`, and training continues at `y`. Keras's
    own `keras.optimizers.ScheduleFreeAdamW` has no such switch.
    `ScheduleFreeEval(batchnorm_data=...)` recomputes batch normalization
    statistics at `x`.

    A step with a NaN or infinite gradient anywhere is skipped (`z`, `x`,
    the weights and the moments stay), as `Prodigy` skips one; the
    reference would turn the weights NaN for good.

    Args:
        learning_rate: Float or `LearningRateSchedule`. Defaults to `0.0025`
            (the reference's).
        beta_1: Float in [0, 1): the interpolation between `x` and `z`.
            Defaults to `0.9`.
        beta_2: Float in [0, 1). Defaults to `0.999`.
        epsilon: Float > 0. Defaults to `1e-8`.
        weight_decay: Float >= 0. Defaults to `0.0`.
        warmup_steps: Integer >= 0. Linear warmup of the LR. Defaults to `0`.
        r: Float >= 0. Polynomial weighting of the average. Defaults to `0`.
        weight_lr_power: Float >= 0. Weights the average by `lr_max**p`, so
            warmup steps count less. Defaults to `2`.
        decay_at_z: Bool. Decay `z` by itself instead of by `y`. Defaults to
            `False`.
        name: String. Defaults to `"schedule_free_adamw"`.
        **kwargs: Keras optimizer arguments; clipping and accumulation are
            refused.

    Reference:
        [Defazio et al., 2024, "The Road Less Scheduled"](https://arxiv.org/abs/2405.15682).
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0,
                 decay_at_z=False, name="schedule_free_adamw", **kwargs):
        super().__init__(learning_rate, warmup_steps, r, weight_lr_power, name, **kwargs)
        self.beta_1 = _validation.require_number("beta_1", beta_1, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.beta_2 = _validation.require_number("beta_2", beta_2, minimum=0, maximum=1,
                                                 max_inclusive=False)
        self.epsilon = _validation.require_positive("epsilon", epsilon)
        self.sf_weight_decay = _validation.require_non_negative("weight_decay", weight_decay)
        self.decay_at_z = _validation.require_bool("decay_at_z", decay_at_z)

    @property
    def _beta(self):
        return self.beta_1

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._exp_avg_sqs = self.add_optimizer_variables(var_list, "exp_avg_sq")

    def update_step(self, gradient, variable, learning_rate):
        lr, ckp1, k = self._keras_lr_step
        index = self.index(variable)
        grad = ops.cast(gradient, "float32")
        y = ops.convert_to_tensor(variable)
        z = ops.convert_to_tensor(self._z[index])
        if self.sf_weight_decay:
            z = z - self.scaled(lr * self.sf_weight_decay * (z if self.decay_at_z else y))
        v_slot = self._exp_avg_sqs[index]
        v = ops.convert_to_tensor(v_slot) * self.beta_2 + (1 - self.beta_2) * ops.square(grad)
        self._keep(v_slot, v)
        denom = ops.sqrt(v / (1.0 - ops.power(self.beta_2, k + 1.0))) + self.epsilon
        z = z - self.scaled(lr * grad / denom)
        self._keep(self._z[index], z)
        self._keep(variable, self._average(index, z, ckp1))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "weight_decay": self.sf_weight_decay, "decay_at_z": self.decay_at_z})
        return config


@keras.saving.register_keras_serializable(package="keras_lr")
class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD, as the reference (`schedulefree` 1.4.1,
    `SGDScheduleFreeReference`), with its evaluation point.

    As `ScheduleFreeAdamW` with a plain gradient step on `z`:
    `g += weight_decay * y`, `z -= lr * g`, `x = (1 - c) * x + c * z`,
    `y = momentum * x + (1 - momentum) * z`. Evaluate at `x` with
    `keras_lr.callbacks.ScheduleFreeEval()`.

    Args:
        learning_rate: Float or `LearningRateSchedule`. Defaults to `1.0`
            (the reference's).
        momentum: Float in (0, 1). Defaults to `0.9`.
        weight_decay: Float >= 0. Defaults to `0.0`.
        warmup_steps: Integer >= 0. Defaults to `0`.
        r: Float >= 0. Defaults to `0`.
        weight_lr_power: Float >= 0. Defaults to `2`.
        name: String. Defaults to `"schedule_free_sgd"`.
        **kwargs: Keras optimizer arguments; clipping and accumulation are
            refused.
    """

    def __init__(self, learning_rate=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0,
                 r=0.0, weight_lr_power=2.0, name="schedule_free_sgd", **kwargs):
        super().__init__(learning_rate, warmup_steps, r, weight_lr_power, name, **kwargs)
        self.momentum = _validation.require_number("momentum", momentum, minimum=0, maximum=1,
                                                   min_inclusive=False, max_inclusive=False)
        self.sf_weight_decay = _validation.require_non_negative("weight_decay", weight_decay)

    @property
    def _beta(self):
        return self.momentum

    def update_step(self, gradient, variable, learning_rate):
        lr, ckp1, _ = self._keras_lr_step
        index = self.index(variable)
        grad = ops.cast(gradient, "float32")
        if self.sf_weight_decay:
            grad = grad + self.sf_weight_decay * ops.convert_to_tensor(variable)
        z = ops.convert_to_tensor(self._z[index]) - self.scaled(lr * grad)
        self._keep(self._z[index], z)
        self._keep(variable, self._average(index, z, ckp1))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "weight_decay": self.sf_weight_decay})
        return config
