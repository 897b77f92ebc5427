"""Cyclical learning rates (Smith, 2015): triangular, triangular2, exp_range.

Drop-in replacements for tensorflow-addons' classes (same signatures, defaults
and values) that also accept PyTorch's asymmetric cycles (`step_size_down`)
and whose custom `scale_fn` survives `model.save()` / `load_model()`.
"""

import warnings

import keras
from keras import ops

from keras_lr import _validation
from keras_lr.schedules import _common

__all__ = ["CyclicalLearningRate", "ExponentialCyclicalLearningRate", "Triangular2CyclicalLearningRate", "TriangularCyclicalLearningRate"]


def _scale_fn_problem(scale_fn):
    """Why `scale_fn` cannot be saved and loaded again, or None if it can."""
    reason = None
    config = None
    if getattr(scale_fn, "__name__", None) == "<lambda>":
        reason = "it is a lambda"
    else:
        try:
            config = keras.saving.serialize_keras_object(scale_fn)
            restored = keras.saving.deserialize_keras_object(config)
        except Exception as e:  # noqa: BLE001 - any failure means "cannot load".
            reason = f"it cannot be deserialized ({type(e).__name__}: {e})"
        else:
            if restored is None:
                reason = "it cannot be deserialized"
    return reason, config


_SCALE_FN_HINT = (
    "Define `scale_fn` as a module-level function decorated with "
    "`@keras.saving.register_keras_serializable(package=...)`, or use "
    "`keras_lr.schedules.Triangular2CyclicalLearningRate` / "
    "`ExponentialCyclicalLearningRate`, which need no function."
)


def _serialize_scale_fn(scale_fn):
    """Raises a clear error rather than writing a config that cannot load."""
    reason, config = _scale_fn_problem(scale_fn)
    if reason is not None:
        raise ValueError(
            "Cannot serialize the `scale_fn` of a CyclicalLearningRate: "
            f"{reason}. Received: scale_fn={scale_fn!r}. A model saved with it "
            f"could not be loaded again. {_SCALE_FN_HINT}"
        )
    return config


@keras.saving.register_keras_serializable(package="keras_lr")
class CyclicalLearningRate(_common.ConfigRepr, keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate that cycles between two bounds (Smith, 2015).

    Each cycle rises linearly from `initial_learning_rate` to
    `maximal_learning_rate` in `step_size` steps and falls back in
    `step_size_down` steps (default: `step_size`). The amplitude is multiplied
    by `scale_fn(cycle)` (`scale_mode="cycle"`, cycle counted from 1) or by
    `scale_fn(step)` (`scale_mode="iterations"`):

    ```
    total = step_size + step_size_down
    cycle = floor(1 + step / total)
    x = 1 + step / total - cycle                     # position in the cycle
    h = x / r if x <= r else (x - 1) / (r - 1)       # r = step_size / total
    lr = initial + (maximal - initial) * h * scale_fn(cycle or step)
    ```

    With `step_size_down=None` this is exactly tensorflow-addons'
    `tfa.optimizers.CyclicalLearningRate`; with `step_size_down` it gives the
    values of PyTorch's `torch.optim.lr_scheduler.CyclicLR(base_lr, max_lr,
    step_size_up, step_size_down)`.

    Args:
        initial_learning_rate: Float >= 0. The lower bound of the cycle.
        maximal_learning_rate: Float >= 0. The upper bound of the cycle
            (reached only when `scale_fn` is 1 there).
        step_size: Positive number. Steps from the lower to the upper bound.
        scale_fn: Callable taking a float32 tensor (the cycle or the step)
            and returning a tensor, written with `keras.ops`. To save a model
            with it, register it with
            `@keras.saving.register_keras_serializable()`; a lambda or an
            unregistered function raises a `ValueError` when the model is
            saved.
        scale_mode: `"cycle"` or `"iterations"`: what `scale_fn` receives.
            Defaults to `"cycle"`.
        name: String. Name of the schedule. Defaults to
            `"CyclicalLearningRate"`.
        step_size_down: Optional positive number (keyword only). Steps from
            the upper back to the lower bound. Defaults to `step_size`.

    Returns:
        A 1-arg callable schedule that takes the current optimizer step and
        returns a float32 scalar tensor.

    Raises:
        ValueError: if an argument is out of range, or (from `get_config`)
            if `scale_fn` cannot be serialized.
        TypeError: if `scale_fn` is not callable.

    Example:

    ```python
    >>> @keras.saving.register_keras_serializable(package="my_project")
    ... def halve_each_cycle(cycle):
    ...     return keras.ops.power(0.5, cycle - 1.0)
    >>> schedule = keras_lr.schedules.CyclicalLearningRate(
    ...     1e-4, 1e-2, step_size=2000, scale_fn=halve_each_cycle)
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)

    ```

    Reference:
        [Smith, 2015, "Cyclical Learning Rates for Training Neural
        Networks"](https://arxiv.org/abs/1506.01186).
    """

    def __init__(
        self,
        initial_learning_rate,
        maximal_learning_rate,
        step_size,
        scale_fn,
        scale_mode="cycle",
        name="CyclicalLearningRate",
        *,
        step_size_down=None,
    ):
        super().__init__()
        self.initial_learning_rate = _validation.require_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.maximal_learning_rate = _validation.require_non_negative(
            "maximal_learning_rate", maximal_learning_rate
        )
        self.step_size = _validation.require_positive("step_size", step_size)
        if step_size_down is not None:
            step_size_down = _validation.require_positive(
                "step_size_down", step_size_down
            )
        self.step_size_down = step_size_down
        if not callable(scale_fn):
            raise TypeError(
                "Argument `scale_fn` must be callable. "
                f"Received: scale_fn={scale_fn!r}"
            )
        if type(self) is CyclicalLearningRate:
            reason, _ = _scale_fn_problem(scale_fn)
            if reason is not None:
                warnings.warn(
                    f"This CyclicalLearningRate trains, but cannot be saved "
                    f"with a model: its `scale_fn` {reason}. {_SCALE_FN_HINT}",
                    UserWarning,
                    stacklevel=2,
                )
        self.scale_fn = scale_fn
        self.scale_mode = _validation.require_one_of(
            "scale_mode", scale_mode, ("cycle", "iterations")
        )
        self.name = name

    def __call__(self, step):
        step = _common.as_float_step(step)
        up = self.step_size
        down = self.step_size if self.step_size_down is None else self.step_size_down
        total = up + down
        ratio = up / total
        # The position inside the cycle comes from an exact float32 `mod`
        # rather than `step / total - floor(...)`, which loses digits at
        # large steps.
        local = ops.mod(step, total)
        cycle = ops.round((step - local) / total) + 1.0
        x = local / total
        height = ops.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        mode_step = cycle if self.scale_mode == "cycle" else step
        scale = ops.cast(self.scale_fn(mode_step), "float32")
        amplitude = self.maximal_learning_rate - self.initial_learning_rate
        return self.initial_learning_rate + amplitude * height * scale

    def _base_config(self):
        config = {
            "initial_learning_rate": self.initial_learning_rate,
            "maximal_learning_rate": self.maximal_learning_rate,
            "step_size": self.step_size,
            "scale_mode": self.scale_mode,
            "name": self.name,
        }
        if self.step_size_down is not None:
            config["step_size_down"] = self.step_size_down
        return config

    def get_config(self):
        config = self._base_config()
        config["scale_fn"] = _serialize_scale_fn(self.scale_fn)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "scale_fn" in config:
            config["scale_fn"] = keras.saving.deserialize_keras_object(
                config["scale_fn"]
            )
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_lr")
class TriangularCyclicalLearningRate(CyclicalLearningRate):
    """Cyclical learning rate with a constant amplitude ("triangular").

    `lr = initial + (maximal - initial) * h(step)`, where `h` is the triangle
    wave of `keras_lr.schedules.CyclicalLearningRate`. Same signature, defaults
    and values as `tfa.optimizers.TriangularCyclicalLearningRate`, and as
    PyTorch's `CyclicLR(mode="triangular")`.

    Args:
        initial_learning_rate: Float >= 0. The lower bound of the cycle.
        maximal_learning_rate: Float >= 0. The upper bound of the cycle.
        step_size: Positive number. Steps from the lower to the upper bound.
        scale_mode: `"cycle"` or `"iterations"`. Has no effect on the values
            (the scale is 1); kept for compatibility. Defaults to `"cycle"`.
        name: String. Defaults to `"TriangularCyclicalLearningRate"`.
        step_size_down: Optional positive number (keyword only). Steps from
            the upper back to the lower bound. Defaults to `step_size`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.TriangularCyclicalLearningRate(
    ...     initial_learning_rate=1e-4, maximal_learning_rate=1e-2,
    ...     step_size=2000)
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)

    ```
    """

    def __init__(
        self,
        initial_learning_rate,
        maximal_learning_rate,
        step_size,
        scale_mode="cycle",
        name="TriangularCyclicalLearningRate",
        *,
        step_size_down=None,
    ):
        super().__init__(
            initial_learning_rate,
            maximal_learning_rate,
            step_size,
            scale_fn=self._scale,
            scale_mode=scale_mode,
            name=name,
            step_size_down=step_size_down,
        )

    def _scale(self, x):
        return ops.ones_like(x)

    def get_config(self):
        return self._base_config()


@keras.saving.register_keras_serializable(package="keras_lr")
class Triangular2CyclicalLearningRate(CyclicalLearningRate):
    """Cyclical learning rate whose amplitude halves every cycle.

    `scale_fn(cycle) = 1 / 2 ** (cycle - 1)`. Same signature, defaults and
    values as `tfa.optimizers.Triangular2CyclicalLearningRate`, and as
    PyTorch's `CyclicLR(mode="triangular2")`.

    Args:
        initial_learning_rate: Float >= 0. The lower bound of the cycle.
        maximal_learning_rate: Float >= 0. The upper bound of the first cycle.
        step_size: Positive number. Steps from the lower to the upper bound.
        scale_mode: `"cycle"` or `"iterations"`: what the halving counts.
            Defaults to `"cycle"`.
        name: String. Defaults to `"Triangular2CyclicalLearningRate"`.
        step_size_down: Optional positive number (keyword only). Steps from
            the upper back to the lower bound. Defaults to `step_size`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.Triangular2CyclicalLearningRate(
    ...     initial_learning_rate=1e-4, maximal_learning_rate=1e-2,
    ...     step_size=2000)

    ```
    """

    def __init__(
        self,
        initial_learning_rate,
        maximal_learning_rate,
        step_size,
        scale_mode="cycle",
        name="Triangular2CyclicalLearningRate",
        *,
        step_size_down=None,
    ):
        super().__init__(
            initial_learning_rate,
            maximal_learning_rate,
            step_size,
            scale_fn=self._scale,
            scale_mode=scale_mode,
            name=name,
            step_size_down=step_size_down,
        )

    def _scale(self, x):
        return ops.power(2.0, 1.0 - x)

    def get_config(self):
        return self._base_config()


@keras.saving.register_keras_serializable(package="keras_lr")
class ExponentialCyclicalLearningRate(CyclicalLearningRate):
    """Cyclical learning rate whose amplitude decays as `gamma ** step`.

    `scale_fn(x) = gamma ** x` with `x` the step (`scale_mode="iterations"`,
    the default) or the cycle. Same signature, defaults and values as
    `tfa.optimizers.ExponentialCyclicalLearningRate`, and as PyTorch's
    `CyclicLR(mode="exp_range", gamma=gamma)`.

    Args:
        initial_learning_rate: Float >= 0. The lower bound of the cycle.
        maximal_learning_rate: Float >= 0. The upper bound at step 0.
        step_size: Positive number. Steps from the lower to the upper bound.
        scale_mode: `"iterations"` or `"cycle"`. Defaults to `"iterations"`.
        gamma: Float in (0, 1]. Decay factor per step (or per cycle). Defaults to
            `1.0`.
        name: String. Defaults to `"ExponentialCyclicalLearningRate"`.
        step_size_down: Optional positive number (keyword only). Steps from
            the upper back to the lower bound. Defaults to `step_size`.

    Returns:
        A schedule: a callable of the step returning a float32 scalar.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    >>> schedule = keras_lr.schedules.ExponentialCyclicalLearningRate(
    ...     initial_learning_rate=1e-4, maximal_learning_rate=1e-2,
    ...     step_size=2000, gamma=0.9999)

    ```
    """

    def __init__(
        self,
        initial_learning_rate,
        maximal_learning_rate,
        step_size,
        scale_mode="iterations",
        gamma=1.0,
        name="ExponentialCyclicalLearningRate",
        *,
        step_size_down=None,
    ):
        # The amplitude decays: gamma > 1 would grow it without bound (and
        # overflow float32, to an infinite learning rate, within a run).
        self.gamma = _validation.require_number(
            "gamma", gamma, minimum=0, maximum=1, min_inclusive=False)
        super().__init__(
            initial_learning_rate,
            maximal_learning_rate,
            step_size,
            scale_fn=self._scale,
            scale_mode=scale_mode,
            name=name,
            step_size_down=step_size_down,
        )

    def _scale(self, x):
        return _common.power(self.gamma, x)

    def get_config(self):
        config = self._base_config()
        config["gamma"] = self.gamma
        return config
