"""The LR range test on the digits data, offline, and training with its advice.

1. `keras_lr.find_lr` sweeps the learning rate of a fresh model, prints the
   suggestion and the range, and writes the plot; the model is left exactly as
   it was.
2. Trains at the suggested constant learning rate, and with a one-cycle
   schedule sized from the suggested range; prints both accuracies.
3. Re-runs the finder mid-training (a documented workflow) to see where the
   good learning rates moved.

    python examples/lr_finder.py [--epochs 10] [--output-dir examples/output]
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


def build(learning_rate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output-dir", default=os.path.join("examples", "output"))
    args = parser.parse_args()
    (x, y), (x_val, y_val) = digits()
    steps = args.epochs * -(-len(x) // args.batch_size)

    model = build(1e-3)
    result = keras_lr.find_lr(model, x, y, batch_size=args.batch_size)  # prints a summary
    lr = result.suggestion()              # "minimum", median of 3 sweeps
    min_lr, max_lr = result.suggest_range()
    print(f"other methods: steep {result.suggestion('steep'):.2e}, "
          f"valley {result.suggestion('valley'):.2e}")
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "lr_finder.png")
    result.plot().savefig(path, dpi=100, bbox_inches="tight")
    print(f"finder plot: {path}")

    constant = build(lr)
    constant.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    one_cycle = build(keras_lr.schedules.OneCycle(
        max_lr, total_steps=steps, div_factor=max_lr / min_lr))
    one_cycle.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    for name, trained in [(f"constant lr={lr:.2e}", constant),
                          (f"OneCycle {min_lr:.1e} -> {max_lr:.1e}", one_cycle)]:
        _, accuracy = trained.evaluate(x_val, y_val, verbose=0)
        print(f"{name:36s} val accuracy {accuracy:.4f}")

    # Mid-training: the model is restored afterwards, so training goes on as if
    # the finder had never run.
    later = keras_lr.find_lr(constant, x, y, batch_size=args.batch_size, verbose=0)
    try:
        print(f"after {args.epochs} epochs the finder suggests {later.suggestion():.2e}")
    except keras_lr.finder.UnreliableCurveError as e:
        print(f"after {args.epochs} epochs: {e}")


if __name__ == "__main__":
    main()
