"""The finder benchmark's tasks, fixed before any method was tuned on them.

Fourteen offline tasks (scikit-learn's bundled data) covering what users
train: small CNNs on images, a GRU and an LSTM on sequences, an attention
block, an embedding model, tabular MLPs, regressions; Adam, AdamW, Nadam,
Adamax, SGD with and without momentum, RMSprop; batch sizes 16 to 256;
label smoothing, Huber, logits. Six are the calibration set (what a method's
defaults may be chosen on), eight are held out (reported, never tuned on).

Each task is a dict: `name`, `group` ("calibration" / "held-out"), `build()`
(an uncompiled model and its compile arguments), `optimizer(lr)`, `data`
(`x, y, x_val, y_val`), `epochs`, `batch_size` and `metric` (the validation
metric, higher is better; `"-val_loss"` for the regressions).
"""

import keras
import numpy as np

from _data import split
from _data import standardize

__all__ = ["CALIBRATION", "HELD_OUT", "TASKS", "by_slug"]


def _digits(images=False, sequence=False, onehot=False, tokens=False):
    from sklearn.datasets import load_digits

    (x, y), (xv, yv) = split(*load_digits(return_X_y=True))
    if tokens:  # pixel intensities 0..16 as tokens
        x, xv = x.astype("int32"), xv.astype("int32")
    else:
        x, xv = (x / 16.0).astype("float32"), (xv / 16.0).astype("float32")
    if images:
        x, xv = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    elif sequence:
        x, xv = x.reshape(-1, 8, 8), xv.reshape(-1, 8, 8)  # 8 rows of 8 pixels
    if onehot:
        y, yv = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(yv, 10)
    return x, y, xv, yv


def _tabular(loader):
    (x, y), (xv, yv) = split(*loader(return_X_y=True))
    x, xv = standardize(x, xv)
    return x, y, xv, yv


def _regression():
    from sklearn.datasets import load_diabetes

    x, y, xv, yv = _tabular(load_diabetes)
    scale = y.std()
    return x, (y / scale).astype("float32"), xv, (yv / scale).astype("float32")


def _sequential(*layers):
    return keras.Sequential(list(layers))


CE = "sparse_categorical_crossentropy"
CE_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def task_digits_mlp():
    return dict(name="digits MLP / Adam / CE", data=_digits(), epochs=15, batch_size=32,
                optimizer=keras.optimizers.Adam, metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((64,)),
                                           keras.layers.Dense(128, activation="relu"),
                                           keras.layers.Dense(10, activation="softmax")),
                               dict(loss=CE, metrics=["accuracy"])))


def task_digits_cnn():
    return dict(name="digits CNN / Nadam / CE logits", data=_digits(images=True), epochs=10,
                batch_size=32, optimizer=keras.optimizers.Nadam, metric="val_accuracy",
                build=lambda: (_sequential(
                    keras.Input((8, 8, 1)),
                    keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
                    keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                    keras.layers.Dense(10)), dict(loss=CE_LOGITS, metrics=["accuracy"])))


def task_breast_cancer_rmsprop():
    from sklearn.datasets import load_breast_cancer

    x, y, xv, yv = _tabular(load_breast_cancer)
    return dict(name="breast cancer MLP / RMSprop / BCE",
                data=(x, y.astype("float32"), xv, yv.astype("float32")), epochs=20,
                batch_size=16, optimizer=keras.optimizers.RMSprop, metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((30,)),
                                           keras.layers.Dense(32, activation="relu"),
                                           keras.layers.Dense(1, activation="sigmoid")),
                               dict(loss="binary_crossentropy", metrics=["accuracy"])))


def task_diabetes_sgd():
    return dict(name="diabetes MLP / SGD / MSE", data=_regression(), epochs=40,
                batch_size=32, optimizer=keras.optimizers.SGD, metric="-val_loss",
                build=lambda: (_sequential(keras.Input((10,)),
                                           keras.layers.Dense(32, activation="relu"),
                                           keras.layers.Dense(1)), dict(loss="mse")))


def task_digits_gru():
    return dict(name="digits GRU / Adam / CE logits", data=_digits(sequence=True), epochs=12,
                batch_size=64, optimizer=keras.optimizers.Adam, metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((8, 8)), keras.layers.GRU(32),
                                           keras.layers.Dense(10)),
                               dict(loss=CE_LOGITS, metrics=["accuracy"])))


def task_wine_sgd_momentum():
    from sklearn.datasets import load_wine

    return dict(name="wine MLP / SGD momentum / CE", data=_tabular(load_wine), epochs=30,
                batch_size=16, optimizer=lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
                metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((13,)),
                                           keras.layers.Dense(16, activation="relu"),
                                           keras.layers.Dense(3, activation="softmax")),
                               dict(loss=CE, metrics=["accuracy"])))


# ---- held out ------------------------------------------------------------------------------

def task_digits_mlp_smoothing():
    return dict(name="digits MLP / SGD momentum / label smoothing",
                data=_digits(onehot=True), epochs=15, batch_size=32,
                optimizer=lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
                metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((64,)),
                                           keras.layers.Dense(64, activation="tanh"),
                                           keras.layers.Dense(10)),
                               dict(loss=keras.losses.CategoricalCrossentropy(
                                   from_logits=True, label_smoothing=0.1),
                                   metrics=["accuracy"])))


def task_digits_cnn_adamw_dropout():
    return dict(name="digits CNN / AdamW / dropout", data=_digits(images=True), epochs=10,
                batch_size=64, metric="val_accuracy",
                optimizer=lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.01),
                build=lambda: (_sequential(
                    keras.Input((8, 8, 1)),
                    keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
                    keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
                    keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                    keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")),
                    dict(loss=CE, metrics=["accuracy"])))


def task_breast_cancer_deep_sgd():
    from sklearn.datasets import load_breast_cancer

    x, y, xv, yv = _tabular(load_breast_cancer)
    return dict(name="breast cancer deep MLP / SGD / BCE logits",
                data=(x, y.astype("float32"), xv, yv.astype("float32")), epochs=20,
                batch_size=32, optimizer=keras.optimizers.SGD, metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((30,)),
                                           keras.layers.Dense(16, activation="relu"),
                                           keras.layers.Dense(16, activation="relu"),
                                           keras.layers.Dense(1)),
                               dict(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                                    metrics=[keras.metrics.BinaryAccuracy(
                                        name="accuracy", threshold=0.0)])))


def task_diabetes_huber():
    return dict(name="diabetes 2-layer MLP / Adamax / Huber", data=_regression(), epochs=30,
                batch_size=32, optimizer=keras.optimizers.Adamax, metric="-val_loss",
                build=lambda: (_sequential(keras.Input((10,)),
                                           keras.layers.Dense(64, activation="relu"),
                                           keras.layers.Dense(32, activation="relu"),
                                           keras.layers.Dense(1)),
                               dict(loss=keras.losses.Huber())))


def task_digits_lstm():
    return dict(name="digits LSTM / RMSprop / CE logits", data=_digits(sequence=True),
                epochs=12, batch_size=128, optimizer=keras.optimizers.RMSprop,
                metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((8, 8)), keras.layers.LSTM(32),
                                           keras.layers.Dense(10)),
                               dict(loss=CE_LOGITS, metrics=["accuracy"])))


def _attention():
    inputs = keras.Input((8, 8))
    h = keras.layers.Dense(32)(inputs)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(h, h)
    h = keras.layers.LayerNormalization()(h + attended)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def task_digits_attention():
    return dict(name="digits attention block / AdamW / CE logits", data=_digits(sequence=True),
                epochs=12, batch_size=64, metric="val_accuracy",
                optimizer=lambda lr: keras.optimizers.AdamW(lr, weight_decay=1e-4),
                build=lambda: (_attention(), dict(loss=CE_LOGITS, metrics=["accuracy"])))


def task_digits_embedding():
    return dict(name="digits embedding bag / Adam / CE logits", data=_digits(tokens=True),
                epochs=20, batch_size=256, optimizer=keras.optimizers.Adam,
                metric="val_accuracy",
                build=lambda: (_sequential(keras.Input((64,), dtype="int32"),
                                           keras.layers.Embedding(17, 16),
                                           keras.layers.Flatten(),
                                           keras.layers.Dense(10)),
                               dict(loss=CE_LOGITS, metrics=["accuracy"])))


def task_digits_conv1d():
    # The "published benchmark task": a small 1-D CNN, Adam, batch 100.
    def build():
        return (_sequential(keras.Input((64, 1)),
                            keras.layers.Conv1D(16, 5, activation="relu"),
                            keras.layers.MaxPooling1D(2),
                            keras.layers.Conv1D(32, 3, activation="relu"),
                            keras.layers.GlobalAveragePooling1D(),
                            keras.layers.Dense(10)),
                dict(loss=CE_LOGITS, metrics=["accuracy"]))

    x, y, xv, yv = _digits()
    return dict(name="digits 1-D CNN / Adam / CE logits",
                data=(x[..., None], y, xv[..., None], yv), epochs=15, batch_size=100,
                optimizer=keras.optimizers.Adam, metric="val_accuracy", build=build)


CALIBRATION = [task_digits_mlp, task_digits_cnn, task_breast_cancer_rmsprop, task_diabetes_sgd,
               task_digits_gru, task_wine_sgd_momentum]
HELD_OUT = [task_digits_mlp_smoothing, task_digits_cnn_adamw_dropout,
            task_breast_cancer_deep_sgd, task_diabetes_huber, task_digits_lstm,
            task_digits_attention, task_digits_embedding, task_digits_conv1d]
TASKS = CALIBRATION + HELD_OUT


def slug(make):
    return make.__name__.removeprefix("task_")


def by_slug(name):
    for make in TASKS:
        if slug(make) == name:
            return make
    raise KeyError(name)


def load(make):
    task = make()
    task["slug"] = slug(make)
    task["group"] = "held-out" if make in HELD_OUT else "calibration"
    return task


def compiled(task, lr, seed):
    keras.utils.set_random_seed(seed)
    model, compile_kwargs = task["build"]()
    model.compile(optimizer=task["optimizer"](lr), **compile_kwargs)
    return model


def score_of(history, task):
    """The task's score (higher is better) from a history dict's last epoch."""
    if task["metric"] == "-val_loss":
        value = -float(history["val_loss"][-1])
    else:
        value = float(history[task["metric"]][-1])
    return value if np.isfinite(value) else float("nan")
