"""keras-lr quickstart: find the learning rate, then train one cycle at it, offline.

Runs the LR range test (`keras_lr.find_lr`) on a small MLP for scikit-learn's
`load_digits`, saves the finder's plot, trains one cycle sized from `fit`'s
arguments at the finder's range (`keras_lr.fit_one_cycle`), prints the
validation accuracy and saves a plot of the schedule it used.

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
    parser.add_argument("--output-dir", default=os.path.join("examples", "output"))
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val) = digits()
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    # 1. The range test: a progress bar, then the answer in one line. The
    #    model is put back exactly as it was afterwards.
    result = keras_lr.find_lr(model, x_train, y_train, batch_size=args.batch_size)
    figure = result.plot()
    finder_plot = os.path.join(args.output_dir, "quickstart_finder.png")
    figure.savefig(finder_plot, dpi=100, bbox_inches="tight")
    print(f"finder plot: {finder_plot}")

    # 2. One cycle over the finder's range, sized from fit's own arguments;
    #    Adam's beta_1 cycles the other way inside the compiled step.
    history = keras_lr.fit_one_cycle(model, x_train, y_train, epochs=args.epochs,
                                     max_lr=result, batch_size=args.batch_size,
                                     validation_data=(x_val, y_val), verbose=0)
    print(f"validation accuracy: {history.history['val_accuracy'][-1]:.4f}")

    schedule = history.schedule
    figure = keras_lr.plot_schedule(schedule, schedule.total_steps,
                                    momentum=schedule.momentum_schedule())
    figure.axes[0].set_title("The one-cycle schedule fit_one_cycle trained with")
    schedule_plot = os.path.join(args.output_dir, "quickstart_schedule.png")
    figure.savefig(schedule_plot, dpi=100, bbox_inches="tight")
    print(f"schedule plot: {schedule_plot}")


if __name__ == "__main__":
    main()
