"""Training without choosing a learning rate: Prodigy, D-Adaptation, DoG, DoWG, Mechanic, Schedule-Free.

Trains the digits MLP with `keras_lr.optimizers.Prodigy`, `DAdaptAdam`,
`DoG`, `DoWG`, `Mechanic` around Adam, and `ScheduleFreeAdamW` (validated at
its average, with `keras_lr.callbacks.ScheduleFreeEval`) at their defaults (learning rate 1.0: a multiplier of the step size they
estimate) and with Adam at its default 1e-3, for the same epochs, and prints
each one's validation accuracy and the step size the learning-rate-free ones
arrived at (`effective_learning_rate`, logged by `LearningRateLogger`). Runs
offline on scikit-learn's digits in about 30 seconds on 2 CPU cores.

    python examples/lr_free.py [--epochs 10]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402


def run(optimizer, data, epochs, callbacks=()):
    (x, y), validation = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    logger = keras_lr.callbacks.LearningRateLogger(frequency=10)
    history = model.fit(x, y, epochs=epochs, batch_size=32, validation_data=validation,
                        verbose=0, callbacks=[*callbacks, logger])
    step = logger.history.get("effective_learning_rate", [None])[-1]
    return history.history["val_accuracy"][-1], step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    data = digits()
    evaluate_at_x = [keras_lr.callbacks.ScheduleFreeEval()]
    for name, optimizer, callbacks in [
        ("Prodigy (defaults)", keras_lr.optimizers.Prodigy(), ()),
        ("DAdaptAdam (defaults)", keras_lr.optimizers.DAdaptAdam(), ()),
        ("DoG (defaults)", keras_lr.optimizers.DoG(), ()),
        ("DoWG (defaults)", keras_lr.optimizers.DoWG(), ()),
        ("Mechanic(Adam 1e-3)", keras_lr.optimizers.Mechanic(keras.optimizers.Adam()), ()),
        ("ScheduleFreeAdamW (defaults)", keras_lr.optimizers.ScheduleFreeAdamW(), evaluate_at_x),
        ("Adam 1e-3 (Keras's default)", keras.optimizers.Adam(), ()),
    ]:
        accuracy, step = run(optimizer, data, args.epochs, callbacks)
        found = "" if step is None else f", estimated step size {step:.2e}"
        print(f"{name:28s} validation accuracy {accuracy:.3f}{found}")


if __name__ == "__main__":
    main()
