"""`OptimizerWrapper`: the delegation shared by keras-lr's optimizer wrappers.

A wrapper is a Keras optimizer that owns another one (`inner_optimizer`) and
forwards everything to it, the way `keras.optimizers.LossScaleOptimizer` does:
one optimizer state (the inner one's slots and `iterations`), the inner
learning rate (float or schedule), one checkpoint. What a wrapper changes, it
changes inside the inner optimizer's own update, by hooking the *innermost*
optimizer's per-variable `update_step` (see `hook`). Wrappers nest, with each
other and inside a `LossScaleOptimizer` (`mixed_float16`).
"""

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer as learning_rate_owner


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class: a Keras optimizer that delegates to `inner_optimizer`.

    Subclasses implement `_install_hooks(base)` (called once, at build, with
    the innermost optimizer built), optionally `_before_apply(base)` (called
    once per step, before the inner update: the place to evaluate a schedule
    once into a variable that the hooks read), and `get_config`.

    Args:
        optimizer: The Keras optimizer to wrap.
        name: String. The wrapper's name.
    """

    def __init__(self, optimizer, name=None):
        _validation.require_type(
            "optimizer", optimizer, keras.optimizers.Optimizer,
            "a Keras optimizer instance (e.g. `keras.optimizers.Adam()`)")
        if getattr(optimizer, "_keras_lr_wrapped_by", None) is not None:
            raise ValueError(
                "Argument `optimizer` is already wrapped by "
                f"{optimizer._keras_lr_wrapped_by!r}: wrap the wrapper, or a "
                f"new optimizer. Received: optimizer={optimizer!r}")
        super().__init__(learning_rate=0.0, name=name)
        # The base class made a placeholder learning-rate variable; the
        # learning rate is the inner optimizer's.
        keras_private.untrack_variable(self, keras_private.learning_rate_slot(self))
        self.inner_optimizer = optimizer
        object.__setattr__(optimizer, "_keras_lr_wrapped_by", type(self).__name__)

    # -- what the wrapper changes -------------------------------------------

    def _install_hooks(self, base):
        pass

    def _before_apply(self, base):
        pass

    def _build_own_variables(self):
        pass

    def add_step_value(self, name):
        """A float32 scalar variable of this optimizer, set once per step.

        Assigned in `_before_apply` (replica context: every replica computes
        the same value, the first one's is kept) and read by the hooks, so a
        schedule is evaluated once per step instead of once per variable. As
        an optimizer variable it is part of the (JAX) training state.
        """
        return self.add_variable(
            shape=(), dtype="float32", initializer="zeros",
            aggregation="only_first_replica", name=name)

    @staticmethod
    def hook(base, method_name, make_replacement):
        """Replaces `base.<method_name>` (an instance attribute) by a wrapper.

        `make_replacement(previous)` receives the current bound method (the
        class's, or another wrapper's hook) and returns the replacement, which
        must call `previous` to keep the chain.
        """
        previous = getattr(base, method_name)
        object.__setattr__(base, method_name, make_replacement(previous))

    # -- delegation ---------------------------------------------------------

    def build(self, var_list):
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        self._build_own_variables()
        self._install_hooks(learning_rate_owner(self.inner_optimizer))
        super().build(var_list)

    def _build_on_first_apply(self, trainable_variables):
        if self.built:
            return
        if trainable_variables is None:
            raise ValueError(
                "When passing `grads` without `variables`, the optimizer "
                "must already be built on a list of variables. Call "
                "`optimizer.build(trainable_variables)` first.")
        self.build(list(trainable_variables))

    def apply(self, grads, trainable_variables=None):
        self._build_on_first_apply(trainable_variables)
        self._before_apply(learning_rate_owner(self.inner_optimizer))
        self.inner_optimizer.apply(grads, trainable_variables)

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
