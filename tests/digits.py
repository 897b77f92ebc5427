"""The small digits MLP shared by the callback and optimizer tests."""

import keras
import numpy as np


def load_digits():
    from sklearn.datasets import load_digits as sklearn_digits

    x, y = sklearn_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 16.0).astype("float32"), y[order].astype("int32")


def digits_mlp(learning_rate=0.05, optimizer_cls=None, seed=0, **optimizer_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu", name="hidden"),
        keras.layers.Dense(10, name="logits"),
    ])
    optimizer_cls = optimizer_cls or keras.optimizers.SGD
    model.compile(
        optimizer=optimizer_cls(learning_rate=learning_rate, **optimizer_kwargs),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    return model


def weights(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]
