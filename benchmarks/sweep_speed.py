"""The cost of a learning-rate grid: one `keras_lr.sweep` against K `fit` runs.

For K = 1, 4, 8, 16 learning rates and 300 training steps (batch 32) on the
digits MLP and a small digits CNN, times in this process, interleaved:

- **sequential**: K separate runs as users do them today (keras-tuner's
  grid, a loop): build and compile a model, `fit` it, for each rate;
- **sweep**: one `keras_lr.sweep` over the K rates (compilation included);
- **one fit**: a single such run, the cost of one learning rate.

Targets: on this CPU, K = 8 in at most a third of the sequential time; on a
GPU (when one is lent) K = 8 in at most twice the time of one `fit`. It
prints the table and says which are met.

    python benchmarks/sweep_speed.py [--steps 300] [--rounds 1] [--ks 1,4,8,16]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402


def tasks():
    from sklearn import datasets

    x, y = datasets.load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return [
        ("digits MLP", x, y, lambda: [keras.Input((64,)),
                                       keras.layers.Dense(128, activation="relu")]),
        ("digits CNN", x.reshape(-1, 8, 8, 1), y, lambda: [
            keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu",
                                                        padding="same"),
            keras.layers.MaxPooling2D(), keras.layers.Flatten()]),
    ]


def _model(layers):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([*layers(), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _fit_time(layers, x, y, lr):
    start = time.perf_counter()
    model = _model(layers)
    model.optimizer.learning_rate = lr
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def _sweep_time(layers, x, y, rates):
    start = time.perf_counter()
    model = _model(layers)
    keras_lr.sweep(model, x, y, learning_rates=rates, epochs=1, batch_size=32,
                   shuffle=False, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ks", default="1,4,8,16")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    gpu = bool(keras.config.backend() == "jax" and __import__("jax").devices()[0].platform
               == "gpu") or bool(keras.config.backend() == "tensorflow" and __import__(
                   "tensorflow").config.list_physical_devices("GPU"))
    print(f"keras {keras.__version__}, backend {keras.config.backend()}, "
          f"{'GPU' if gpu else 'CPU'}; {args.steps} steps, batch 32, "
          f"median of {args.rounds} round(s)\n")
    print("| task | K | sequential fits (s) | sweep (s) | one fit (s) | sweep / sequential "
          "| sweep / one fit |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for name, x, y, layers in tasks():
        x = np.resize(x, (args.steps * 32,) + x.shape[1:])
        y = np.resize(y, (args.steps * 32,))
        _fit_time(layers, x[:64], y[:64], 1e-3)  # warm the backend
        for k in ks:
            rates = list(np.logspace(-4, -1, k)) if k > 1 else [1e-3]
            sequential, swept, single = [], [], []
            for _ in range(args.rounds):
                sequential.append(sum(_fit_time(layers, x, y, float(lr)) for lr in rates))
                swept.append(_sweep_time(layers, x, y, rates))
                single.append(_fit_time(layers, x, y, 1e-3))
            seq, swp, one = (float(np.median(v)) for v in (sequential, swept, single))
            print(f"| {name} | {k} | {seq:.2f} | {swp:.2f} | {one:.2f} | {swp / seq:.2f} "
                  f"| {swp / one:.2f} |", flush=True)
            if k == 8:
                verdicts.append((name, swp / seq, swp / one))
    print()
    for name, vs_sequential, vs_one in verdicts:
        if gpu:
            print(f"{name}: K=8 sweep / one fit = {vs_one:.2f} (target <= 2 on a GPU): "
                  f"{'met' if vs_one <= 2 else 'NOT MET'}")
        else:
            print(f"{name}: K=8 sweep / sequential = {vs_sequential:.2f} (target <= 0.33 on "
                  f"this CPU): {'met' if vs_sequential <= 1 / 3 else 'NOT MET'}")


if __name__ == "__main__":
    main()
