"""keras-lr quickstart: a one-cycle schedule on the digits data, offline.

Trains a small MLP on scikit-learn's `load_digits` with
`keras_lr.schedules.OneCycle` (and its momentum curve previewed), prints the
validation accuracy and writes a plot of the schedule.

    python examples/quickstart.py [--epochs 8] [--output-dir examples/output]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-lr", type=float, default=0.05)
    parser.add_argument("--output-dir", default=os.path.join("examples", "output"))
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val) = digits()
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    total_steps = args.epochs * steps_per_epoch

    # The schedule is a pure function of `optimizer.iterations`: it runs
    # inside the compiled train step and resumes from a checkpoint for free.
    schedule = keras_lr.schedules.OneCycle(
        max_learning_rate=args.max_lr, total_steps=total_steps
    )
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_val, y_val), verbose=0)
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(f"validation accuracy: {accuracy:.4f} "
          f"({args.epochs} epochs, {total_steps} steps, OneCycle max_lr={args.max_lr})")

    os.makedirs(args.output_dir, exist_ok=True)
    ax = keras_lr.plot_schedule(schedule, total_steps,
                                momentum=schedule.momentum_schedule())
    # The momentum curve is drawn for reference: this model keeps SGD's
    # constant momentum=0.9.
    ax.set_title("OneCycle learning rate (and its momentum curve)")
    path = os.path.join(args.output_dir, "quickstart_schedule.png")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    print(f"schedule plot: {path}")


if __name__ == "__main__":
    main()
