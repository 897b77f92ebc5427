"""Epochs to a target validation accuracy: one-cycle vs constant learning rates.

On three offline tasks (scikit-learn's digits with an MLP and with a small
CNN, breast cancer with an MLP; all trained with Adam), for several seeds,
counts the epochs each method needs to reach a target validation accuracy:

- `fit_one_cycle` at the finder's LR (`max_lr=result`: the cycle spans the
  finder's `suggest_range()`). A one-cycle run is sized to its budget, so its
  count is the smallest budget `E` (searched over 1, 2, 3, 4, 6, 8, 12, 16,
  24, 32, ...) whose run ends at the target: fastai's "super-convergence"
  measure;
- a constant LR at the finder's `suggestion()`, the first epoch at target;
- Adam at its default 1e-3, the first epoch at target;
- the real-time finder, `PeriodicLRFinder(every=2)`, from the finder's
  suggestion, the first epoch at target.

The accuracy target of a task is set from the constant LR itself: half a
point below the best validation accuracy it reaches in `--max-epochs`
(median over seeds), so that "reached" means "as good as the constant rate
gets". The goal, from the one-cycle literature (Smith and Topin, 2017):
one-cycle needs at least 2x fewer epochs than the constant LR at the
finder's suggestion (the median over tasks of the ratio of the medians over
seeds). It prints the table and says whether the goal is met.

    python benchmarks/one_cycle_epochs.py [--seeds 3] [--max-epochs 64]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import split  # noqa: E402
from _data import standardize  # noqa: E402

BUDGETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
BATCH_SIZE = 32


def _task(name, loader, layers, scale=None, shape=None):
    (x, y), (xv, yv) = split(*loader(return_X_y=True))
    if scale is None:
        x, xv = standardize(x, xv)
    else:
        x, xv = (x / scale).astype("float32"), (xv / scale).astype("float32")
    if shape is not None:
        x, xv = x.reshape(-1, *shape), xv.reshape(-1, *shape)
    classes = int(y.max()) + 1

    def build(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input(x.shape[1:]), *layers(),
                                  keras.layers.Dense(classes, activation="softmax")])
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    return dict(name=name, build=build, data=(x, y.astype("int32")),
                validation=(xv, yv.astype("int32")))


def tasks():
    from sklearn import datasets

    dense = lambda n: lambda: [keras.layers.Dense(n, activation="relu")]  # noqa: E731
    cnn = lambda: [keras.layers.Conv2D(16, 3, activation="relu", padding="same"),  # noqa: E731
                   keras.layers.MaxPooling2D(), keras.layers.Flatten()]
    return [
        _task("digits MLP", datasets.load_digits, dense(64), scale=16.0),
        _task("digits CNN", datasets.load_digits, cnn, scale=16.0, shape=(8, 8, 1)),
        _task("breast cancer MLP", datasets.load_breast_cancer, dense(32)),
    ]


def _first_at_target(history, target):
    accuracy = history.history["val_accuracy"]
    hits = [i + 1 for i, a in enumerate(accuracy) if a >= target]
    return hits[0] if hits else None


def _constant(task, seed, lr, max_epochs, callbacks=()):
    """The validation-accuracy curve of `max_epochs` epochs at `lr`."""
    model = task["build"](seed)
    model.optimizer.learning_rate.assign(lr)
    history = model.fit(*task["data"], validation_data=task["validation"],
                        epochs=max_epochs, batch_size=BATCH_SIZE, verbose=0,
                        callbacks=list(callbacks))
    return history


def _one_cycle(task, seed, result, max_epochs, target):
    for budget in [b for b in BUDGETS if b <= max_epochs]:
        model = task["build"](seed)
        history = keras_lr.fit_one_cycle(
            model, *task["data"], epochs=budget, max_lr=result, batch_size=BATCH_SIZE,
            validation_data=task["validation"], verbose=0)
        if history.history["val_accuracy"][-1] >= target:
            return budget
    return None


def run(seeds, max_epochs):
    rows = []
    for task in tasks():
        start = time.perf_counter()
        results, curves = [], {"constant (finder)": [], "Adam 1e-3": [],
                               "PeriodicLRFinder": []}
        for seed in range(seeds):
            model = task["build"](seed)
            result = keras_lr.find_lr(model, *task["data"], batch_size=BATCH_SIZE, seed=seed,
                                      verbose=0)
            results.append(result)
            lr = result.suggestion()
            curves["constant (finder)"].append(_constant(task, seed, lr, max_epochs))
            curves["Adam 1e-3"].append(_constant(task, seed, 1e-3, max_epochs))
            x, y = task["data"]
            finder = keras_lr.callbacks.PeriodicLRFinder(
                x, y, every=2, num_steps=60, sample=min(len(x), 512), seed=seed, verbose=0)
            curves["PeriodicLRFinder"].append(
                _constant(task, seed, lr, max_epochs, callbacks=[finder]))
        best = np.median([max(h.history["val_accuracy"])
                          for h in curves["constant (finder)"]])
        target = float(best) - 0.005
        counts = {"one-cycle": [_one_cycle(task, seed, results[seed], max_epochs, target)
                                for seed in range(seeds)]}
        for name, histories in curves.items():
            counts[name] = [_first_at_target(h, target) for h in histories]
        lrs = [(r.suggestion(), r.suggest_range()[1]) for r in results]
        rows.append((dict(task, target=target), counts, lrs, time.perf_counter() - start))
    return rows


def _median(values, max_epochs):
    # A run that never reached the target counts as max_epochs + 1 ("> max").
    return float(np.median([max_epochs + 1 if v is None else v for v in values]))


def _fmt(values):
    return ", ".join("-" if v is None else str(v) for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=64)
    args = parser.parse_args()
    rows = run(args.seeds, args.max_epochs)
    methods = list(rows[0][1])
    print(f"\nEpochs to the target validation accuracy (median over {args.seeds} seeds; "
          f"per seed in brackets; '-': not reached in {args.max_epochs})\n")
    print("| task (target) | finder LR / one-cycle peak | "
          + " | ".join(methods) + " | one-cycle speed-up vs constant |")
    print("|---|---|" + "---|" * len(methods) + "---|")
    ratios = []
    for task, counts, lrs, seconds in rows:
        medians = {m: _median(counts[m], args.max_epochs) for m in methods}
        ratio = medians["constant (finder)"] / medians["one-cycle"]
        ratios.append(ratio)
        lr = np.median([a for a, _ in lrs])
        peak = np.median([b for _, b in lrs])
        cells = [f"{medians[m]:g} [{_fmt(counts[m])}]" for m in methods]
        print(f"| {task['name']} ({task['target']:.3f}) | {lr:.1e} / {peak:.1e} | "
              + " | ".join(cells) + f" | {ratio:.2f}x |")
    overall = float(np.median(ratios))
    met = overall >= 2.0
    print(f"\nMedian speed-up of fit_one_cycle over the constant LR at the finder's "
          f"suggestion: {overall:.2f}x (target >= 2x): {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
