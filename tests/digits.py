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


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.crash_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.crash_epoch:
            raise RuntimeError("crash")


def crash_and_resume(make, x, y, backup_dir, epochs=4, crash_epoch=1):
    """Trains `make(seed=0)` uninterrupted; then a run that crashes after
    `crash_epoch`, resumed by `BackupAndRestore` into `make(seed=1)` (other
    initial weights, which the backup must overwrite). Returns both models."""
    def fit(model, callbacks):
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False,
                  callbacks=callbacks)

    whole = make(seed=0)
    fit(whole, [])
    try:
        fit(make(seed=0), [keras.callbacks.BackupAndRestore(backup_dir), _Crash(crash_epoch)])
    except RuntimeError as e:
        if str(e) != "crash":
            raise
    else:
        raise AssertionError("the run did not crash")
    resumed = make(seed=1)
    fit(resumed, [keras.callbacks.BackupAndRestore(backup_dir)])
    return whole, resumed
