"""Hypergradient descent from a poorly chosen learning rate.

Two offline tasks (digits MLP, breast-cancer MLP) and two optimizers (SGD,
Adam). For each pair a half-decade grid of constant learning rates finds the
best one (lowest final training loss, same budget and seeds); then each is
started a decade below, at, and a decade above it and trained with the bare
optimizer and with `keras_lr.optimizers.Hypergradient` in three settings (the
paper's additive rule; the multiplicative rule; the multiplicative rule with a
warm-up), same seeds. Prints the final training loss (mean over the seeds,
full training set) of each and the learned rates, and counts the cases where
the wrapper ends lower than the bare optimizer (against a diverged bare run,
a loss below chance level). With `--plots DIR`, draws the learning rate over
time.

    python benchmarks/hypergradient.py [--seeds 3] [--epochs 6] [--plots DIR]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402

# The grid searched for the best constant learning rate.
GRID = {"SGD": np.logspace(-3, 0.5, 8), "Adam": np.logspace(-5, -1.5, 8)}
# The wrapper's settings compared, by optimizer.
SETTINGS = {
    "additive": {"SGD": dict(rule="additive", hypergradient_lr=1e-3),
                 "Adam": dict(rule="additive", hypergradient_lr=1e-6)},
    "multiplicative": {name: dict(rule="multiplicative", hypergradient_lr=0.05)
                       for name in GRID},
    "mult.+warm-up": {name: dict(rule="multiplicative", hypergradient_lr=0.1,
                                 warmup_steps=30) for name in GRID},
}
STARTS = {"a decade too small": 0.1, "the grid's best": 1.0, "a decade too large": 10.0}


def tasks():
    from sklearn.datasets import load_breast_cancer
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    digits = ((x / 16.0).astype("float32"), y.astype("int32"), 10)
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    cancer = (x, y.astype("int32"), 2)
    return {"digits MLP": digits, "breast cancer MLP": cancer}


def model_for(inputs, classes, optimizer, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(classes),
    ])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def run(task, name, start, setting, seed, epochs, batch_size=32):
    x, y, classes = task
    inner = getattr(keras.optimizers, name)(start)
    optimizer = inner if setting is None else keras_lr.optimizers.Hypergradient(
        inner, **SETTINGS[setting][name])
    model = model_for(x.shape[1], classes, optimizer, seed)
    logger = keras_lr.callbacks.LearningRateLogger()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[logger])
    loss = model.evaluate(x, y, batch_size=512, verbose=0)
    return float(loss), logger.history["learning_rate"]


def lower(loss, bare, classes):
    """Whether `loss` beats `bare`. Against a diverged (NaN) bare run, a loss
    wins only if it is below chance, `log(classes)`: the model learned."""
    if not np.isfinite(loss):
        return False
    if not np.isfinite(bare):
        return loss < np.log(classes)
    return loss < bare


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--plots", default=None, help="directory for hypergradient.png")
    args = parser.parse_args()

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, keras-lr "
          f"{keras_lr.__version__}; {args.epochs} epochs, batch 32, {args.seeds} seeds")
    for setting, by_name in SETTINGS.items():
        print(f"  {setting}: " + "; ".join(
            f"{n} " + ", ".join(f"{k}={v}" for k, v in kw.items())
            for n, kw in by_name.items()))
    print("losses: final training loss, mean over seeds; (lr): learned rate at the end")
    header = f"{'task':18s} {'optimizer':9s} {'start lr':>9s} {'bare loss':>10s} "
    header += "".join(f"{s[:14]:>14s} {'(lr)':>8s} " for s in SETTINGS)
    print(header + " lower loss")
    curves = {}
    best_lr = {}
    wins = {(where, s): 0 for where in STARTS for s in SETTINGS}
    totals = {where: 0 for where in STARTS}
    for task_name, task in tasks().items():
        for name in ("SGD", "Adam"):
            bare = {}

            def bare_loss(lr):
                key = float(f"{lr:.3g}")
                if key not in bare:
                    bare[key] = float(np.mean([run(task, name, key, None, s, args.epochs)[0]
                                               for s in range(args.seeds)]))
                return bare[key]

            losses = [bare_loss(lr) for lr in GRID[name]]
            best = float(f"{GRID[name][int(np.nanargmin(losses))]:.3g}")
            best_lr[(task_name, name)] = best
            for where, factor in STARTS.items():
                start = float(f"{best * factor:.3g}")
                row = f"{task_name:18s} {name:9s} {start:9.1e} {bare_loss(start):10.4f} "
                better = []
                for setting in SETTINGS:
                    runs = [run(task, name, start, setting, s, args.epochs)
                            for s in range(args.seeds)]
                    loss = float(np.mean([r[0] for r in runs]))
                    learned = float(np.mean([r[1][-1] for r in runs]))
                    row += f"{loss:14.4f} {learned:8.1e} "
                    if lower(loss, bare_loss(start), task[2]):
                        wins[(where, setting)] += 1
                        better.append(setting)
                    curves[(task_name, name, where, setting)] = runs[0][1]
                totals[where] += 1
                print(row + " " + (", ".join(better) or "NONE"), flush=True)
    print("best constant learning rate of the grid: " + ", ".join(
        f"{t} / {n}: {lr:.2g}" for (t, n), lr in best_lr.items()))
    for where in STARTS:
        print(f"started {where}: lower training loss than the bare optimizer in " + ", ".join(
            f"{wins[(where, s)]} of {totals[where]} ({s})" for s in SETTINGS))
    if args.plots:
        plot(curves, best_lr, args.plots)
    return 0


def plot(curves, best_lr, directory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SETTINGS), 2, figsize=(11, 3.3 * len(SETTINGS)))
    for row, setting in zip(axes, SETTINGS):
        for ax, name in zip(row, ("SGD", "Adam")):
            for (task_name, opt, where, s), lrs in curves.items():
                if opt != name or s != setting or where == "the grid's best":
                    continue
                style = "-" if task_name.startswith("digits") else "--"
                ax.plot(lrs, style, label=f"{task_name}, {where}")
            for (task_name, opt), lr in best_lr.items():
                if opt == name:
                    ax.axhline(lr, color="gray", lw=0.8,
                               ls="-" if task_name.startswith("digits") else "--")
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel("learning rate")
            ax.set_title(f"{name}, {setting} (grey: the grid's best LR)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "hypergradient.png")
    fig.savefig(path, dpi=90)
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
