"""Transfer learning in one call: `keras_lr.fine_tune` (fastai's recipe).

A small CNN backbone is first trained, in this script, on the digits 0-4 (a
stand-in for a pretrained `keras.applications` model, which needs a download).
A new model is then built around it for the digits 5-9, from a few examples
per class, and trained two ways for the same number of epochs:

- `keras_lr.fine_tune`: the backbone frozen for one one-cycle epoch at the
  finder's learning rate (the head learns), then everything unfrozen with
  discriminative one-cycle learning rates (the backbone's first layers at a
  hundredth of the head's);
- one learning rate for every layer (Adam at its default, 1e-3), the usual
  first try.

The user code is the `fine_tune_with_keras_lr` function: 10 lines. It prints
the test accuracy on 5-9 for each seed and the mean. Runs offline on
scikit-learn's digits in about two minutes on 2 CPU cores.

    python examples/fine_tune.py [--epochs 8] [--shots 20] [--seeds 3]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_lr  # noqa: E402


def load():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    return x, y.astype("int32")


def pretrained_backbone(x, y, seed):
    """A CNN trained on the digits 0-4: the 'pretrained' backbone."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    backbone = keras.Model(inputs, keras.layers.Dense(64, activation="relu")(h),
                           name="backbone")
    pretrain = keras.Sequential([backbone, keras.layers.Dense(5)])
    pretrain.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pretrain.fit(x, y, epochs=15, batch_size=64, verbose=0)
    return backbone


def new_model(backbone):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(5, activation="softmax")(backbone(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ---- user code: 10 lines ------------------------------------------------------
def fine_tune_with_keras_lr(backbone, x, y, epochs):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(5, activation="softmax")(backbone(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_lr.fine_tune(model, x, y, backbone=backbone, epochs=epochs - 1,
                       freeze_epochs=1, batch_size=16, verbose=0,
                       find_lr_kwargs={"num_steps": 100, "repeats": 1, "verbose": 0})
    return model
# ---- end of user code ------------------------------------------------------------


def single_lr(backbone, x, y, epochs):
    model = new_model(backbone)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--shots", type=int, default=20, help="examples per class")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    x, y = load()
    source = y < 5
    x_target, y_target = x[~source], y[~source] - 5
    results = {"fine_tune": [], "single LR (Adam 1e-3)": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        train = np.concatenate([rng.choice(np.flatnonzero(y_target == c), args.shots,
                                           replace=False) for c in range(5)])
        test = np.setdiff1d(np.arange(len(y_target)), train)
        for name, train_fn in [("fine_tune", fine_tune_with_keras_lr),
                               ("single LR (Adam 1e-3)", single_lr)]:
            backbone = pretrained_backbone(x[source], y[source], seed)
            keras.utils.set_random_seed(seed)
            model = train_fn(backbone, x_target[train], y_target[train], args.epochs)
            accuracy = model.evaluate(x_target[test], y_target[test], verbose=0,
                                      return_dict=True)["accuracy"]
            results[name].append(accuracy)
            print(f"seed {seed}  {name:22s} test accuracy {accuracy:.3f}")
    print(f"\n{args.shots} examples per class, {args.epochs} epochs each, "
          f"mean over {args.seeds} seed(s):")
    for name, values in results.items():
        print(f"  {name:22s} {np.mean(values):.3f}  (seeds: "
              f"{', '.join(f'{v:.3f}' for v in values)})")
    better = np.mean(results["fine_tune"]) > np.mean(results["single LR (Adam 1e-3)"])
    print("fine_tune beats the single learning rate:", "yes" if better else "NO")


if __name__ == "__main__":
    main()
