"""Hypergradient descent: start from a bad learning rate, let it learn a better one.

Trains the same MLP on scikit-learn's digits with SGD started a decade too low
(0.03) and a decade too high (3.0; the best constant rate is about 0.3), bare
and wrapped in `keras_lr.optimizers.Hypergradient` (the paper's additive rule,
and the multiplicative rule with a warm-up), and prints the final training
loss and the learning rate each run ended with. Runs offline in about half a
minute.

    python examples/hypergradient.py [--epochs 6]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_lr  # noqa: E402


def mlp(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")

    print(f"digits MLP, SGD, {args.epochs} epochs, batch 32")
    settings = {
        "SGD": None,
        "Hypergradient(SGD), the paper's rule": dict(hypergradient_lr=1e-3),
        "Hypergradient(SGD), mult. + warm-up": dict(
            rule="multiplicative", hypergradient_lr=0.1, warmup_steps=30),
    }
    for start in (0.03, 3.0):
        for name, setting in settings.items():
            optimizer = keras.optimizers.SGD(start)
            if setting is not None:
                optimizer = keras_lr.optimizers.Hypergradient(optimizer, **setting)
            model = mlp(optimizer)
            model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
            loss = model.evaluate(x, y, batch_size=512, verbose=0)
            lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            print(f"  start lr {start:<5g} {name:38s} training loss {loss:.4f}, "
                  f"final lr {lr:.3g}")


if __name__ == "__main__":
    main()
