"""Plateau and adaptive LR control on top of a schedule, on offline digits.

Trains the same small MLP on scikit-learn's digits four ways and plots the
loss and the learning rate each step used:

1. `ReduceLROnPlateau` on top of a `CosineDecay` schedule (it scales it);
2. `BoldDriver` starting from a learning rate a decade too small;
3. `DivergenceGuard` through a one-step LR spike that would ruin the run;
4. the same spike without the guard.

    python examples/lr_control.py [--epochs 30] [--output-dir examples/output]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402

BATCH = 64


def mlp(learning_rate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def run_variants(epochs):
    (x, y), (xv, yv) = digits()
    steps = int(np.ceil(len(x) / BATCH)) * epochs
    spike_at = steps // 3
    spike = lambda: keras_lr.schedules.Join([0.05, 50.0, 0.05], [spike_at, spike_at + 1])  # noqa: E731
    variants = {
        "ReduceLROnPlateau on CosineDecay": (
            keras.optimizers.schedules.CosineDecay(0.1, 4 * steps),
            [keras_lr.callbacks.ReduceLROnPlateau(factor=0.3, patience=1, min_delta=0.02,
                                                  threshold_mode="rel")]),
        "BoldDriver from lr=0.001": (1e-3, [keras_lr.callbacks.BoldDriver(increase=1.5, slow=0.1)]),
        "DivergenceGuard through an LR spike": (
            spike(), [keras_lr.callbacks.DivergenceGuard(verbose=0)]),
        "the same spike, no guard": (spike(), []),
    }
    results = {}
    for name, (learning_rate, callbacks) in variants.items():
        model = mlp(learning_rate)
        logger = keras_lr.callbacks.LearningRateLogger()
        history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0,
                            validation_data=(xv, yv), callbacks=[*callbacks, logger])
        results[name] = dict(history=history.history, lr_steps=logger.history["step"],
                             lrs=logger.history["learning_rate"], steps_per_epoch=steps // epochs)
        accuracy = history.history["val_accuracy"][-1]
        print(f"{name:38s} final val accuracy {accuracy:.3f}, "
              f"final lr {logger.history['learning_rate'][-1]:.2e}")
    return results


def plot(results, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4 * len(results), 5.5), sharex="col")
    for column, (name, r) in enumerate(results.items()):
        epochs = np.arange(1, len(r["history"]["loss"]) + 1) * r["steps_per_epoch"]
        loss_ax, lr_ax = axes[0, column], axes[1, column]
        loss_ax.plot(epochs, r["history"]["loss"], label="train loss")
        loss_ax.plot(epochs, r["history"]["val_loss"], label="val loss")
        loss_ax.set_yscale("log")
        loss_ax.set_title(name, fontsize=9)
        lr_ax.plot(r["lr_steps"], r["lrs"], color="C2")
        lr_ax.set_yscale("log")
        lr_ax.set_xlabel("step")
        if column == 0:
            loss_ax.set_ylabel("loss (epoch mean)")
            lr_ax.set_ylabel("learning rate used")
            loss_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "output"))
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    results = run_variants(args.epochs)
    path = os.path.join(args.output_dir, "lr_control.png")
    plot(results, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
