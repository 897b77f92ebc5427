"""A keras-lr wrapper never changes the optimizer it wraps (issue 14, item 3).

The wrapped optimizer's own attributes stay as they were, and used alone
after wrapping it updates exactly as an optimizer that was never wrapped.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_lr.optimizers import Hypergradient
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import ScheduledMomentum
from keras_lr.schedules import OneCycleMomentum

WRAPPERS = {
    "multiplier": lambda o: LRMultiplier(o, {"body": 0.5}),
    "momentum": lambda o: ScheduledMomentum(o, OneCycleMomentum(total_steps=10)),
    "hypergradient": lambda o: Hypergradient(o, rule="multiplicative"),
    "nested": lambda o: LRMultiplier(ScheduledMomentum(o, OneCycleMomentum(total_steps=10)),
                                     {"body": 0.0}),
}


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="body"),
                              keras.layers.Dense(1, name="head")])
    return model


def _train(model, optimizer, steps=5):
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8 * steps, 4)).astype("float32")
    y = rng.normal(size=(8 * steps, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return [ops.convert_to_numpy(v) for v in model.weights]


@pytest.mark.parametrize("name", sorted(WRAPPERS))
@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: keras.optimizers.AdamW(0.01),
], ids=["sgd", "adamw"])
def test_wrapping_leaves_the_optimizer_as_it_was(name, make, fresh_session):
    optimizer = make()
    before = {key: value for key, value in vars(optimizer).items()}
    _train(_model(), WRAPPERS[name](optimizer))
    after = vars(optimizer)
    # Building adds slots and caches (as for any optimizer); no method of
    # the instance is added or replaced.
    patched = [key for key, value in after.items()
               if callable(value) and not isinstance(value, keras.Variable)
               and (key not in before or before[key] is not value)]
    assert patched == []
    # Alone on a fresh model it updates as an optimizer that was never wrapped
    # (its slots are built for the first model's variables: use a new one of
    # the same class and settings for the reference, and a fresh copy).
    config = optimizer.get_config()
    reused = type(optimizer).from_config(config)
    _ = WRAPPERS[name](reused)  # wrapped, then used alone:
    ours = _train(_model(seed=3), reused)
    reference = _train(_model(seed=3), type(optimizer).from_config(config))
    for a, b in zip(ours, reference):
        np.testing.assert_array_equal(a, b)
