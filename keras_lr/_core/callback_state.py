"""State that belongs to one callback instance, saved with the optimizer.

A stateful keras-lr callback (plateau, bold driver, guard) keeps its counters
in a `CallbackState`: float variables that only it reads and writes. All of
a model's callback states live in one `StateRegistry`, a saveable child of
the innermost optimizer, so `keras.callbacks.BackupAndRestore`, weights-only
checkpoints and `.keras` files carry them with the optimizer's own state.

Names: a state is named after its callback (`ReduceLROnPlateau[val_loss]`);
when several callbacks of one `fit` would get the same name, the later ones
(in the order of the `callbacks` list) get `_1`, `_2`, ... So two instances
never share a variable, and a resumed run, which builds its callbacks in the
same order, finds each state under the same name.
"""

import keras
import numpy as np
from keras import ops

from keras_lr._core import keras_private

__all__ = ["CallbackState", "StateRegistry"]

_ATTRIBUTE = "_keras_lr_callback_states"


class CallbackState:
    """Named float variables owned by one callback.

    Args:
        name: String, unique among the model's callback states.
        defaults: Dict of variable name -> initial float value.
    """

    def __init__(self, name, defaults, owner):
        self.name = name
        self.owner = owner
        self.defaults = dict(defaults)
        self._variables = {
            key: keras.Variable(
                float(value), dtype="float32", trainable=False,
                name=f"{key}", aggregation="only_first_replica")
            for key, value in self.defaults.items()
        }

    def __getitem__(self, key):
        return float(ops.convert_to_numpy(self._variables[key]))

    def __setitem__(self, key, value):
        self._variables[key].assign(float(value))

    def keys(self):
        return self._variables.keys()

    def reset(self, keys=None):
        """Puts `keys` (default: all) back to their initial values."""
        for key in self.defaults if keys is None else keys:
            self[key] = self.defaults[key]

    def values(self):
        return {key: self[key] for key in self._variables}


class StateRegistry(keras_private.KerasSaveable):
    """The callback states of one optimizer, saved as its child."""

    def __init__(self):
        self._states = {}

    @classmethod
    def of(cls, optimizer):
        """The registry of `optimizer` (the innermost one), created once."""
        registry = getattr(optimizer, _ATTRIBUTE, None)
        if registry is None:
            registry = cls()
            object.__setattr__(optimizer, _ATTRIBUTE, registry)
        return registry

    def claim(self, owner, name, defaults):
        """A fresh `CallbackState` named `name` for `owner`.

        If another callback held the name, its state is replaced: names are
        made unique within one `fit` before they are claimed.
        """
        current = self._states.get(name)
        if current is not None and current.owner is owner and (
                set(current.defaults) == set(defaults)):
            return current
        state = CallbackState(name, defaults, owner)
        self._states[name] = state
        return state

    def names(self):
        return list(self._states)

    # KerasSaveable
    def _obj_type(self):
        return "Metric"

    @staticmethod
    def _key(name, key):
        return f"{name}.{key}".replace("/", ".")  # "/" would nest h5 groups

    def save_own_variables(self, store):
        for name, state in self._states.items():
            for key, value in state.values().items():
                store[self._key(name, key)] = np.asarray(value, dtype="float32")

    def load_own_variables(self, store):
        keys = set(store.keys())
        for name, state in self._states.items():
            for key in state.keys():
                if self._key(name, key) in keys:
                    state[key] = float(np.asarray(store[self._key(name, key)]))
