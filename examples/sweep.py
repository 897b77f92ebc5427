"""A learning-rate grid at about the cost of one fit: `keras_lr.sweep`.

Trains the digits MLP at 9 learning rates from 1e-4 to 1 (log grid) in one
compiled run: K copies of the model, the same initial weights and batches,
one optimizer state and learning rate each. Prints each rate's final
validation accuracy, the best rate, and exports the best copy as a normal
Keras model. Runs offline on scikit-learn's digits in about 15 seconds on 2
CPU cores.

    python examples/sweep.py [--epochs 5] [--output-dir .]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    (x, y), validation = digits()

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])

    result = keras_lr.sweep(model, x, y, learning_rates=np.logspace(-4, 0, 9),
                            epochs=args.epochs, validation_data=validation, verbose=1)

    for lr, accuracy in zip(result.learning_rates, result.final("val_accuracy")):
        print(f"lr {lr:8.1e}  validation accuracy {accuracy:.3f}")
    print(f"best learning rate by val_loss: {result.best():.1e}; "
          f"by val_accuracy: {result.best('val_accuracy'):.1e}")
    best = result.export()  # a normal Keras model, compiled at the best rate
    print("the exported model evaluates to", best.evaluate(*validation, verbose=0,
                                                          return_dict=True))
    if args.output_dir:
        path = os.path.join(args.output_dir, "sweep.png")
        result.plot("val_accuracy").savefig(path, dpi=90)
        print("wrote", path)


if __name__ == "__main__":
    main()
