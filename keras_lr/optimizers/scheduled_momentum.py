"""`ScheduledMomentum`: momentum (or Adam's `beta_1`) as a schedule, in-graph."""

import functools

import keras
from keras import ops

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer as learning_rate_owner
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.schedules._common import LearningRateSchedule
from keras_lr.schedules._common import deserialize_child
from keras_lr.schedules._common import evaluate
from keras_lr.schedules._common import serialize_child

__all__ = ["ScheduledMomentum"]


@keras.saving.register_keras_serializable(package="keras_lr")
class ScheduledMomentum(OptimizerWrapper):
    """Drives SGD's `momentum` or an Adam-family `beta_1` from a schedule.

    Keras's SGD accepts only a float momentum, and a callback that sets a
    Python float does not reach an already compiled step. This wrapper
    evaluates `momentum(step)` inside the compiled update, at the same step
    as the learning rate, so one-cycle training (`OneCycle` with
    `OneCycleMomentum`) cycles the momentum for real, under `jit_compile`,
    `steps_per_execution`, `tf.distribute` and on JAX, and resumes from a
    checkpoint at the right value.

    - **SGD** (`momentum` > 0 at construction, so that it has momentum
      slots): `m = momentum(t) * m - lr(t) * g`, `variable += m` (Nesterov:
      `variable += momentum(t) * m - lr(t) * g`), PyTorch's convention for a
      scheduled momentum. Implemented by rescaling the momentum slot by
      `momentum(t) / momentum` before Keras's own update.
    - **Adam family** (Adam, AdamW, Adamax, Nadam, Lion, Lamb): `beta_1`
      is `momentum(t)` in that step's update, bias correction included
      (`1 - beta_1(t)**t`), as PyTorch does when a scheduler cycles `betas`.

    Args:
        optimizer: A `keras.optimizers.SGD` created with `momentum > 0`, or an
            optimizer with a `beta_1` (or a keras-lr wrapper of one).
        momentum: A `LearningRateSchedule` giving the momentum (or `beta_1`)
            at each step, e.g. `keras_lr.schedules.OneCycleMomentum`.
        name: String. Defaults to `"scheduled_momentum"`.

    Raises:
        TypeError: if `momentum` is not a `LearningRateSchedule`.
        ValueError: if the optimizer has neither a momentum nor a `beta_1`,
            or is an SGD without momentum slots.

    Example:

    ```python
    >>> steps = 100
    >>> optimizer = keras_lr.optimizers.ScheduledMomentum(
    ...     keras.optimizers.SGD(
    ...         keras_lr.schedules.OneCycle(0.1, total_steps=steps),
    ...         momentum=0.9),
    ...     momentum=keras_lr.schedules.OneCycleMomentum(total_steps=steps))
    >>> optimizer.momentum_schedule(0).numpy().round(2)
    np.float32(0.95)

    ```
    """

    def __init__(self, optimizer, momentum, name="scheduled_momentum"):
        if not isinstance(momentum, LearningRateSchedule):
            raise TypeError(
                "Argument `momentum` must be a "
                "`keras.optimizers.schedules.LearningRateSchedule` giving the "
                "momentum at each step (e.g. "
                "`keras_lr.schedules.OneCycleMomentum`). "
                f"Received: momentum={momentum!r} of type "
                f"{type(momentum).__name__}")
        _validation.require_type(
            "optimizer", optimizer, keras.optimizers.Optimizer,
            "a Keras optimizer instance (e.g. `keras.optimizers.SGD(momentum=0.9)`)")
        base = learning_rate_owner(optimizer)
        if isinstance(base, keras.optimizers.SGD):
            if not base.momentum > 0:
                raise ValueError(
                    "The SGD optimizer was created with momentum=0.0, so it "
                    "has no momentum slots: create it with a momentum > 0 "
                    "(e.g. `SGD(momentum=0.9)`); the schedule replaces the "
                    f"value. Received: momentum={base.momentum!r}")
            attribute = "momentum"
        elif isinstance(getattr(base, "beta_1", None), float):
            attribute = "beta_1"
        else:
            raise ValueError(
                "ScheduledMomentum drives SGD's `momentum` or the `beta_1` of "
                "an Adam-family optimizer (Adam, AdamW, Adamax, Nadam, Lion, "
                f"Lamb). Received: optimizer={type(base).__name__}, which has "
                "neither")
        super().__init__(optimizer, name=name)
        object.__setattr__(self, "_momentum", momentum)
        object.__setattr__(self, "_attribute", attribute)

    @property
    def momentum_schedule(self):
        """The schedule of the momentum (or `beta_1`)."""
        return self._momentum

    def _build_own_variables(self):
        # SGD: momentum(t) / momentum, the slot's rescaling; Adam: beta_1(t).
        self._value = self.add_step_value(
            "momentum_ratio" if self._attribute == "momentum" else "beta_1_value")

    def _before_apply(self, base):
        value = evaluate(self._momentum, base.iterations)
        if self._attribute == "momentum":
            value = ops.divide(value, ops.cast(base.momentum, "float32"))
        self._value.assign(value)

    def _update(self, base, grads, variables, update):
        value = self._value
        if self._attribute == "momentum":
            # Keras: m = c * m - lr * g. With m rescaled by momentum(t) / c
            # first, that is momentum(t) * m - lr * g.
            momentums = [base.momentums[keras_private.variable_index(base, v)]
                         for v in variables]
            keras_private.update_each(base, momentums, _rescale, value)
            update(grads, variables)
            if base.nesterov:
                # Keras added c * m_new; the schedule wants
                # momentum(t) * m_new = c * ratio * m_new.
                keras_private.update_each(
                    base, variables, functools.partial(_nesterov, base, float(base.momentum)),
                    value)
            return
        # Every read of `beta_1` in this step's update sees the scheduled
        # value; the float is put back at once (a value, not a method).
        constant = getattr(base, self._attribute)
        object.__setattr__(base, self._attribute, ops.convert_to_tensor(value))
        try:
            update(grads, variables)
        finally:
            object.__setattr__(base, self._attribute, constant)

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": self._inner_config(),
            "momentum": serialize_child(self._momentum),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = cls._deserialize_inner(
            config["optimizer"], custom_objects)
        config["momentum"] = deserialize_child(config["momentum"])
        return cls(**config)


def _rescale(momentum, ratio):
    momentum.assign(ops.multiply(momentum, ops.cast(ratio, momentum.dtype)))


def _nesterov(base, constant, variable, ratio):
    m = base.momentums[keras_private.variable_index(base, variable)]
    ratio = ops.cast(ratio, variable.dtype)
    variable.assign_add(ops.multiply(m, ops.multiply(constant, ops.subtract(ratio, 1.0))))
