"""`DoG`: SGD with the "distance over gradients" step size (Ivgi et al., 2023)."""

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.optimizers._global_step import EtaStepOptimizer
from keras_lr.optimizers._global_step import all_finite

__all__ = ["DoG"]


@keras.saving.register_keras_serializable(package="keras_lr")
class DoG(EtaStepOptimizer):
    """DoG: SGD whose step size is the distance travelled over the gradients.

    The update of the reference implementation (`dog-optimizer` 1.0.3,
    `DoG`), step for step, all variables treated as one vector:

    ```
    rbar_0 = reps_rel * (1 + ||x_0||)            rbar_t = max(rbar_(t-1), ||x_t - x_0||)
    G_0    = ||g_0||**2 + epsilon                G_t    = G_(t-1) + ||g_t||**2
    eta_t  = lr * rbar_t / sqrt(G_t)             (eta_0 = initial_step_size when given)
    x     -= eta_t * (g_t + weight_decay * x_t)
    ```

    No learning rate to tune (`lr`, the paper's `c`, is best left at 1).
    The authors recommend iterate averaging with it (e.g. Keras's
    `use_ema=True`). `effective_learning_rate()` reports `eta`, logged by
    `LearningRateLogger` as `effective_learning_rate`. A step with a NaN or
    infinite gradient is skipped entirely.

    Args:
        learning_rate: Float or `LearningRateSchedule`, the paper's `c`.
            Defaults to `1.0`.
        reps_rel: Float > 0. The first step's distance relative to
            `1 + ||x_0||`: `1e-6`, or `1e-4` for models with batch
            normalization (the authors' advice). Defaults to `1e-6`.
        weight_decay: Float >= 0, added to the gradient. Defaults to `0.0`.
        epsilon: Float >= 0, added to the first `G`. Defaults to `1e-8`.
        initial_step_size: Optional float > 0: the first step size, instead
            of the one `reps_rel` gives (the reference's `init_eta`).
        name: String. Defaults to `"dog"`.
        **kwargs: Keras optimizer arguments; gradient clipping and
            accumulation are refused.

    Raises:
        ValueError: for an argument out of range.

    Reference:
        [Ivgi, Hinder and Carmon, 2023, "DoG is SGD's Best Friend: A
        Parameter-Free Dynamic Step Size Schedule"](https://arxiv.org/abs/2302.12022).
    """

    def __init__(self, learning_rate=1.0, reps_rel=1e-6, weight_decay=0.0, epsilon=1e-8,
                 initial_step_size=None, name="dog", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.reps_rel = _validation.require_positive("reps_rel", reps_rel)
        self.dog_weight_decay = _validation.require_non_negative("weight_decay", weight_decay)
        self.epsilon = _validation.require_non_negative("epsilon", epsilon)
        self.initial_step_size = None if initial_step_size is None else (
            _validation.require_positive("initial_step_size", initial_step_size))

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._rbar = self.add_scalar("rbar", 0.0)
        self._g_sum = self.add_scalar("G", 0.0)
        self.add_eta_and_x0(var_list)

    def prepare_step(self, grads, variables, learning_rate):
        """The pass over all variables: the distance, the gradient sum, eta."""
        first = ops.equal(self.iterations, 0)
        finite = all_finite(grads)
        step_grads = {}
        squares, distance, norm = 0.0, 0.0, 0.0
        for grad, variable in zip(grads, variables):
            index = self.index(variable)
            x = ops.convert_to_tensor(variable)
            grad = ops.cast(grad, "float32")
            if self.dog_weight_decay:
                grad = grad + self.dog_weight_decay * x
            step_grads[index] = grad
            squares = squares + ops.sum(ops.square(grad))
            distance = distance + ops.sum(ops.square(x - ops.convert_to_tensor(self._x0[index])))
            norm = norm + ops.sum(ops.square(x))
        rbar_old = ops.convert_to_tensor(self._rbar)
        g_old = ops.convert_to_tensor(self._g_sum)
        rbar = ops.where(first, self.reps_rel * (1.0 + ops.sqrt(norm)),
                         ops.maximum(rbar_old, ops.sqrt(distance)))
        g_sum = ops.where(first, squares + self.epsilon, g_old + squares)
        eta = ops.cast(learning_rate, "float32") * rbar / ops.sqrt(g_sum)
        if self.initial_step_size is not None:
            eta = ops.where(first, self.initial_step_size, eta)
        self.assign(self._rbar, ops.where(finite, rbar, rbar_old))
        self.assign(self._g_sum, ops.where(finite, g_sum, g_old))
        self.finish_pass(eta, finite, step_grads)

    def get_config(self):
        config = super().get_config()
        config.update({"reps_rel": self.reps_rel, "weight_decay": self.dog_weight_decay,
                       "epsilon": self.epsilon, "initial_step_size": self.initial_step_size})
        return config
