"""The two-layer net, initial weights and batches that the learning-rate-free
optimizer tests share with their references (PyTorch packages, optax): in
a module of its own so that no reference's import is needed to use them."""

import keras
import numpy as np

STEPS = 100
_rng = np.random.default_rng(0)
X = _rng.normal(size=(STEPS, 16, 5)).astype("float32")
Y = _rng.normal(size=(STEPS, 16, 1)).astype("float32")
WEIGHTS = [(_rng.normal(size=(5, 8)) * 0.5).astype("float32"), np.zeros(8, "float32"),
           (_rng.normal(size=(8, 1)) * 0.5).astype("float32"), np.zeros(1, "float32")]


def small_net():
    """`Dense(8, tanh)` named "hidden", then `Dense(1)` named "out", at
    `WEIGHTS`."""
    model = keras.Sequential([keras.Input((5,)),
                              keras.layers.Dense(8, activation="tanh", name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.set_weights(WEIGHTS)
    return model
