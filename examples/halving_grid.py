"""The learning rate to train with, from a grid trained to your budget: `halving_grid`.

`keras_lr.sweeps.halving_grid` trains 21 rates (quarter-decade steps from
1e-5 to 1) as copies of the model in one compiled run, scores them on your
validation data at a quarter and at half of the budget, drops the worse half
each time, and trains the rest to the end: the answer of the full grid at
about a tenth of its cost (`docs/benchmarks.md`). This example runs it on
scikit-learn's digits (an MLP with SGD and momentum), prints the rungs, the
range test's answer beside it, trains at the answer, and draws the rungs.
Offline, about 30 seconds on 2 CPU cores.

    python examples/halving_grid.py [--epochs 10] [--output-dir .]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402


def build(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def plot_rungs(result):
    """Validation loss against the rate at each rung: who was dropped when."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    for rung in result.rungs:
        rates = sorted(rung["scores"])
        axes.plot(rates, [rung["scores"][r] for r in rates], "o-", ms=4,
                  label=f"step {rung['step']} ({len(rates)} rates)")
    final = result.rungs[-1]["scores"]
    best = min(final, key=final.get)
    axes.axvline(best, color="k", ls=":", label=f"answer {best:.2g}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("validation loss (log)")
    finite = [v for r in result.rungs for v in r["scores"].values() if np.isfinite(v)]
    axes.set_ylim(min(finite) * 0.8, min(max(finite), min(finite) * 20) * 1.2)
    axes.set_title("halving_grid: each rung keeps the better half")
    axes.legend()
    figure.tight_layout()
    return figure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    (x, y), validation = digits()

    lr, result = keras_lr.sweeps.halving_grid(build(), x, y, epochs=args.epochs,
                                              batch_size=64, validation_data=validation,
                                              verbose=1)
    for rung in result.rungs:
        rates = sorted(rung["scores"])
        print(f"step {rung['step']:4d}: {len(rates):2d} rates from {rates[0]:.2g} to "
              f"{rates[-1]:.2g}")
    print(f"halving_grid suggests {lr:.3g}")

    # 100 steps: about 5 passes over these 1347 rows (300 would read them 14
    # times, and the finder warns that its answer comes out high).
    finder = keras_lr.find_lr(build(), x, y, batch_size=64, num_steps=100, verbose=0)
    print(f"the range test suggests {finder.suggestion():.3g} (for comparison)")

    model = build()
    model.optimizer.learning_rate = lr
    history = model.fit(x, y, epochs=args.epochs, batch_size=64, validation_data=validation,
                        verbose=0)
    print(f"trained at {lr:.3g}: validation accuracy {history.history['val_accuracy'][-1]:.3f}")
    if args.output_dir:
        path = os.path.join(args.output_dir, "halving_grid.png")
        plot_rungs(result).savefig(path, dpi=90)
        print("wrote", path)


if __name__ == "__main__":
    main()
