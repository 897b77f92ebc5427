"""`ControlledSchedule`: any learning rate times a scale that callbacks control.

The plateau, bold-driver and divergence-guard callbacks change the learning
rate by changing this schedule's `scale`, so they work the same on top of a
float learning rate, a keras-lr schedule or a Keras one. The scale and the
callbacks' counters are variables of the schedule:

- `.keras` save/load: `get_config()` carries their values;
- `keras.callbacks.BackupAndRestore` and weights-only checkpoints: the
  schedule is attached to the optimizer as a saveable child, so its variables
  are written and read with the optimizer's.
"""

import contextlib

import keras
import numpy as np
from keras import ops
from keras.src.saving.keras_saveable import KerasSaveable

from keras_lr import _validation
from keras_lr.schedules._common import LearningRateSchedule
from keras_lr.schedules._common import check_schedule_or_number
from keras_lr.schedules._common import deserialize_child
from keras_lr.schedules._common import evaluate
from keras_lr.schedules._common import serialize_child


@keras.saving.register_keras_serializable(package="keras_lr")
class ControlledSchedule(LearningRateSchedule, KerasSaveable):
    """A learning rate (float or schedule) times a scale held in a variable.

    `lr(step) = scale * schedule(step)`

    You rarely build one yourself: `keras_lr.callbacks.ReduceLROnPlateau`,
    `BoldDriver` and `DivergenceGuard` install one on the model's optimizer
    (see `install`) and change `scale`; the underlying schedule keeps its
    shape (a reduced `OneCycle` is the same curve, lower).

    Args:
        schedule: A float or a `LearningRateSchedule`: the learning rate
            before scaling.
        scale: Float > 0. The initial scale. Defaults to `1.0`.
        state: Optional dict of named float values kept as variables next to
            the scale (the callbacks' counters). Defaults to none.
        name: String. Defaults to `"ControlledSchedule"`.

    Example:

    ```python
    >>> lr = keras_lr.schedules.ControlledSchedule(0.1)
    >>> _ = lr.scale.assign(0.5)
    >>> float(lr(0))
    0.05

    ```
    """

    def __init__(self, schedule, scale=1.0, state=None, name="ControlledSchedule"):
        super().__init__()
        schedule = deserialize_child(schedule)
        self.schedule = check_schedule_or_number("schedule", schedule)
        scale = _validation.require_positive("scale", scale)
        if state is not None and not isinstance(state, dict):
            raise TypeError(f"Argument `state` must be a dict or None. Received: state={state!r}")
        self.name = name
        self.scale = self._variable("scale", scale)
        self._state = {}
        for key, value in (state or {}).items():
            self.add_state(key, value)

    @staticmethod
    def _variable(name, value):
        return keras.Variable(
            float(value), dtype="float32", trainable=False, name=name,
            aggregation="only_first_replica",
        )

    def add_state(self, key, initial):
        """Returns the state variable `key`, created with `initial` if new."""
        if key not in self._state:
            self._state[key] = self._variable(key.replace("/", "_"), initial)
        return self._state[key]

    @property
    def state(self):
        """Dict of the named state variables (read-only view)."""
        return dict(self._state)

    def __call__(self, step):
        return ops.multiply(evaluate(self.schedule, step), self.scale)

    def get_config(self):
        return {
            "schedule": serialize_child(self.schedule),
            "scale": float(ops.convert_to_numpy(self.scale)),
            "state": {
                key: float(ops.convert_to_numpy(variable))
                for key, variable in self._state.items()
            },
            "name": self.name,
        }

    # KerasSaveable: written with the optimizer's weights (BackupAndRestore).
    def _obj_type(self):
        # Keras accepts a fixed set of types; "Metric" (a holder of state
        # variables) only decides which attributes are skipped when walking.
        return "Metric"

    @staticmethod
    def _store_key(key):
        return key.replace("/", ".")  # "/" would nest groups in the h5 file

    def save_own_variables(self, store):
        store["scale"] = np.asarray(ops.convert_to_numpy(self.scale))
        for key, variable in self._state.items():
            store[self._store_key(key)] = np.asarray(ops.convert_to_numpy(variable))

    def load_own_variables(self, store):
        keys = set(store.keys())
        if "scale" in keys:
            self.scale.assign(store["scale"])
        for key, variable in self._state.items():
            if self._store_key(key) in keys:
                variable.assign(store[self._store_key(key)])

    def commit(self, model):
        """Makes changed values reach `model`'s compiled train step.

        TensorFlow's compiled step reads the variables live: nothing to do.
        On JAX they are constants of the traced step, so the step is traced
        again (once per change: reductions are rare events).
        """
        if keras.backend.backend() == "jax":
            model.make_train_function(force=True)

    @classmethod
    def install(cls, model):
        """Puts a `ControlledSchedule` on `model`'s optimizer, or returns its.

        Wraps the optimizer's learning rate (float or schedule) once; later
        calls return the same object. A float learning rate's variable is
        then no longer an optimizer variable (the value lives on as the
        schedule's base), so the optimizer has the same variables as one
        deserialized from the saved config. The model's train function is
        reset so the next `fit` traces the new learning rate.

        After installation `optimizer.learning_rate` still reads the current
        (scaled) value; it can no longer be assigned: change
        `schedule.scale`, or build a new optimizer.

        Args:
            model: A compiled `keras.Model`.

        Returns:
            The `ControlledSchedule`.
        """
        # Imported here: keras_lr.finder imports keras_lr.schedules.
        from keras_lr.finder.state import build_optimizer
        from keras_lr.finder.state import learning_rate_owner

        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError(
                "The model has no optimizer: call `model.compile()` before "
                "`fit` with a keras-lr learning-rate callback.")
        build_optimizer(model)
        owner = learning_rate_owner(optimizer)
        current = owner._learning_rate
        if isinstance(current, cls):
            controlled = current
        else:
            if isinstance(current, LearningRateSchedule):
                base = current
            elif isinstance(current, keras.Variable):
                base = float(ops.convert_to_numpy(current))
                owner._untrack_variable(current)
            else:
                raise TypeError(
                    "keras-lr's learning-rate callbacks need a float learning "
                    "rate or a `LearningRateSchedule`. Received a "
                    f"{type(current).__name__}: {current!r}")
            strategy = getattr(model, "distribute_strategy", None)
            with strategy.scope() if strategy is not None else contextlib.nullcontext():
                controlled = cls(base)
            # Bypass the optimizer's tracking: `_learning_rate` is not a variable.
            object.__setattr__(owner, "_learning_rate", controlled)
            model.train_function = None
        # A saveable child of the optimizer (not in Keras's skip list), so
        # weights-only saves, and BackupAndRestore, include its variables.
        object.__setattr__(owner, "_keras_lr_controlled_schedule", controlled)
        return controlled
