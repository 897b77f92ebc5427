"""How good is `keras_lr.find_lr`'s suggestion, and what does it cost?

On real offline tasks (scikit-learn's bundled data; different models,
optimizers and losses, one regression), runs `find_lr` with its defaults on a
fresh model, then trains at a log-spaced grid of constant learning rates
(several seeds each) and prints, per task: the suggested LR, the grid's best
LR, their distance in decades, the regret (best grid validation score minus
the score when training at the suggestion, same seeds) and the finder's time
over the grid's time. Targets: within half a decade of the grid's best, at
most 1/20 of the grid's time.

It also runs the short-horizon grid (`keras_lr.sweeps.short_horizon_grid`:
21 rates, quarter-decade steps, trained 300 steps each in one
`keras_lr.sweep`, the best by held-out loss) and prints its distance from the
full grid's best and its cost against the range test's. Target: within 0.25
decades of the full grid's best on every task.

    python benchmarks/finder_quality.py [--seeds 3] [--compare-defaults] [--plots DIR]
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import split  # noqa: E402
from _data import standardize  # noqa: E402
from keras_lr.finder import UnreliableCurveError  # noqa: E402
from keras_lr.finder.range_test import DEFAULT_REPEATS  # noqa: E402
from keras_lr.finder.suggestions import DEFAULT_METHOD  # noqa: E402

GRID = np.logspace(-5, 0, 11)  # half-decade spacing
METHODS = (DEFAULT_METHOD, "valley", "steep")  # the default, fastai's, the steepest


def task_digits_mlp():
    from sklearn.datasets import load_digits

    (x, y), (xv, yv) = split(*load_digits(return_X_y=True))
    x, xv = (x / 16.0).astype("float32"), (xv / 16.0).astype("float32")

    def build():
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        return model, dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    return dict(name="digits MLP / Adam / cross-entropy", build=build,
                optimizer=keras.optimizers.Adam, data=(x, y, xv, yv), epochs=15,
                metric="accuracy")


def task_digits_cnn():
    from sklearn.datasets import load_digits

    (x, y), (xv, yv) = split(*load_digits(return_X_y=True))
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    xv = (xv / 16.0).astype("float32").reshape(-1, 8, 8, 1)

    def build():
        model = keras.Sequential([keras.Input((8, 8, 1)),
                                  keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
                                  keras.layers.MaxPooling2D(),
                                  keras.layers.Flatten(),
                                  keras.layers.Dense(10)])
        return model, dict(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"])

    return dict(name="digits CNN / Nadam / CE from logits", build=build,
                optimizer=keras.optimizers.Nadam, data=(x, y, xv, yv), epochs=10,
                metric="accuracy")


def task_breast_cancer():
    from sklearn.datasets import load_breast_cancer

    (x, y), (xv, yv) = split(*load_breast_cancer(return_X_y=True))
    x, xv = standardize(x, xv)
    y, yv = y.astype("float32"), yv.astype("float32")

    def build():
        model = keras.Sequential([keras.Input((30,)),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        return model, dict(loss="binary_crossentropy", metrics=["accuracy"])

    return dict(name="breast cancer MLP / RMSprop / binary CE", build=build,
                optimizer=keras.optimizers.RMSprop, data=(x, y, xv, yv), epochs=20,
                metric="accuracy")


def task_diabetes_regression():
    from sklearn.datasets import load_diabetes

    (x, y), (xv, yv) = split(*load_diabetes(return_X_y=True))
    x, xv = standardize(x, xv)
    scale = y.std()
    y, yv = (y / scale).astype("float32"), (yv / scale).astype("float32")

    def build():
        model = keras.Sequential([keras.Input((10,)),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1)])
        return model, dict(loss="mse")

    return dict(name="diabetes regression MLP / SGD / MSE", build=build,
                optimizer=keras.optimizers.SGD, data=(x, y, xv, yv), epochs=40,
                metric="-loss")


def task_digits_mlp_sgd_smoothing():
    from sklearn.datasets import load_digits

    (x, y), (xv, yv) = split(*load_digits(return_X_y=True))
    x, xv = (x / 16.0).astype("float32"), (xv / 16.0).astype("float32")
    y, yv = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(yv, 10)

    def build():
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(64, activation="tanh"),
                                  keras.layers.Dense(10)])
        return model, dict(loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1), metrics=["accuracy"])

    return dict(name="digits MLP / SGD momentum / label smoothing", build=build,
                optimizer=lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
                data=(x, y, xv, yv), epochs=15, metric="accuracy")


def task_digits_cnn_adamw_dropout():
    from sklearn.datasets import load_digits

    (x, y), (xv, yv) = split(*load_digits(return_X_y=True))
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    xv = (xv / 16.0).astype("float32").reshape(-1, 8, 8, 1)

    def build():
        model = keras.Sequential([keras.Input((8, 8, 1)),
                                  keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
                                  keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
                                  keras.layers.MaxPooling2D(),
                                  keras.layers.Flatten(),
                                  keras.layers.Dropout(0.3),
                                  keras.layers.Dense(10, activation="softmax")])
        return model, dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    return dict(name="digits CNN / AdamW / dropout", build=build,
                optimizer=lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.01),
                data=(x, y, xv, yv), epochs=10, metric="accuracy")


def task_breast_cancer_sgd():
    from sklearn.datasets import load_breast_cancer

    (x, y), (xv, yv) = split(*load_breast_cancer(return_X_y=True))
    x, xv = standardize(x, xv)
    y, yv = y.astype("float32"), yv.astype("float32")

    def build():
        model = keras.Sequential([keras.Input((30,)),
                                  keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        return model, dict(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                           metrics=[keras.metrics.BinaryAccuracy(name="accuracy",
                                                                 threshold=0.0)])

    return dict(name="breast cancer deep MLP / SGD / BCE logits", build=build,
                optimizer=keras.optimizers.SGD, data=(x, y, xv, yv), epochs=20,
                metric="accuracy")


def task_diabetes_huber():
    from sklearn.datasets import load_diabetes

    (x, y), (xv, yv) = split(*load_diabetes(return_X_y=True))
    x, xv = standardize(x, xv)
    scale = y.std()
    y, yv = (y / scale).astype("float32"), (yv / scale).astype("float32")

    def build():
        model = keras.Sequential([keras.Input((10,)),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1)])
        return model, dict(loss=keras.losses.Huber())

    return dict(name="diabetes 2-layer MLP / Adamax / Huber", build=build,
                optimizer=keras.optimizers.Adamax, data=(x, y, xv, yv), epochs=30,
                metric="-loss")


# The defaults (the range test's suggestion method and repeats, the
# short-horizon grid's) were chosen on the first four; the last four are
# held out: other models, optimizers and losses, reported, not tuned on.
CALIBRATION = [task_digits_mlp, task_digits_cnn, task_breast_cancer, task_diabetes_regression]
HELD_OUT = [task_digits_mlp_sgd_smoothing, task_digits_cnn_adamw_dropout,
            task_breast_cancer_sgd, task_diabetes_huber]
TASKS = CALIBRATION + HELD_OUT


def compiled(task, lr, seed):
    keras.utils.set_random_seed(seed)
    model, compile_kwargs = task["build"]()
    model.compile(optimizer=task["optimizer"](lr), **compile_kwargs)
    return model


def score(task, lr, seed):
    x, y, xv, yv = task["data"]
    model = compiled(task, lr, seed)
    model.fit(x, y, batch_size=32, epochs=task["epochs"], verbose=0)
    values = model.evaluate(xv, yv, verbose=0, return_dict=True)
    value = -values["loss"] if task["metric"] == "-loss" else values[task["metric"]]
    return value if math.isfinite(value) else -1e9


def run_finder(task, **kwargs):
    x, y, _, _ = task["data"]
    model = compiled(task, 1e-3, seed=0)
    start = time.perf_counter()
    result = keras_lr.find_lr(model, x, y, verbose=0, seed=0, **kwargs)
    return result, time.perf_counter() - start


def run_short_horizon(task):
    x, y, _, _ = task["data"]
    model = compiled(task, 1e-3, seed=0)
    start = time.perf_counter()
    lr, _ = keras_lr.sweeps.short_horizon_grid(model, x, y)
    return lr, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--compare-defaults", action="store_true",
                        help="also try num_steps 100/300 and smoothing 0.98/0.9")
    parser.add_argument("--plots", default=None, help="folder for the finder plots")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task numbers to run (1-based), default all")
    args = parser.parse_args()
    seeds = list(range(args.seeds))

    rows, variant_rows, grid_lines = [], [], []
    chosen = TASKS if not args.tasks else [TASKS[int(i) - 1] for i in args.tasks.split(",")]
    for make_task in chosen:
        task = make_task()
        result, finder_time = run_finder(task)
        horizon_lr, horizon_time = run_short_horizon(task)
        start = time.perf_counter()
        grid_scores = [np.mean([score(task, lr, s) for s in seeds]) for lr in GRID]
        grid_time = time.perf_counter() - start
        best = int(np.argmax(grid_scores))
        grid_lines.append(f"{task['name']:56s} " + " ".join(f"{v:7.4f}" for v in grid_scores))
        measured = {}
        for method in METHODS:
            try:
                lr = result.suggestion(method)
                measured[method] = (lr, abs(math.log10(lr / GRID[best])),
                                    np.mean([score(task, lr, s) for s in seeds]))
            except UnreliableCurveError as e:
                measured[method] = (float("nan"),) * 3
                print(f"{task['name']}: no {method} suggestion: {e}")
        suggestion, distance, at_suggestion = measured[DEFAULT_METHOD]
        good = [lr for lr, s in zip(GRID, grid_scores)
                if s >= grid_scores[best] - (0.01 if task["metric"] != "-loss" else 0.02)]
        rows.append(dict(
            held_out=make_task in HELD_OUT,
            task=task["name"] + (" (held out)" if make_task in HELD_OUT else ""), suggestion=suggestion, best=GRID[best],
            good=(min(good), max(good)), distance=distance,
            best_score=grid_scores[best], at_suggestion=at_suggestion,
            regret=grid_scores[best] - at_suggestion, ratio=finder_time / grid_time,
            steps=len(result), stop=result.stop_reason, metric=task["metric"],
            measured=measured, horizon=(horizon_lr, abs(math.log10(horizon_lr / GRID[best])),
                                        np.mean([score(task, horizon_lr, s) for s in seeds]),
                                        horizon_time / finder_time),
        ))
        if args.plots:
            os.makedirs(args.plots, exist_ok=True)
            ax = result.plot()
            ax.set_title(task["name"], fontsize=10)
            slug = task["name"].split(" /")[0].replace(" ", "_").lower()
            ax.figure.savefig(os.path.join(args.plots, f"finder_{slug}.png"), dpi=80,
                              bbox_inches="tight")
        if args.compare_defaults:
            for num_steps in (100, 300):
                for beta in (0.98, 0.9):
                    variant, _ = run_finder(task, num_steps=num_steps, smoothing=beta,
                                            repeats=1)
                    try:
                        lr = variant.suggestion("valley")
                        d = abs(math.log10(lr / GRID[best]))
                    except UnreliableCurveError:
                        lr, d = float("nan"), float("nan")
                    variant_rows.append((task["name"], num_steps, beta, lr, d,
                                         variant.stop_reason, len(variant)))

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, keras-lr "
          f"{keras_lr.__version__}; grid {GRID[0]:.0e}..{GRID[-1]:.0e} (11 LRs, half-decade) "
          f"x {args.seeds} seeds; find_lr defaults (300 steps, smoothing 0.9, "
          f"median of {DEFAULT_REPEATS} sweeps, suggestion {DEFAULT_METHOD!r})")
    header = (f"{'task':56s} {'suggested':>9s} {'grid best':>9s} {'good band (within 1 pt)':>23s} "
              f"{'decades':>7s} {'best':>7s} {'at sugg':>7s} {'regret':>7s} {'time ratio':>10s} {'stop':>14s}")
    print(header)
    for r in rows:
        print(f"{r['task']:56s} {r['suggestion']:9.2e} {r['best']:9.2e} "
              f"{r['good'][0]:11.1e}-{r['good'][1]:.1e} {r['distance']:7.2f} "
              f"{r['best_score']:7.4f} {r['at_suggestion']:7.4f} {r['regret']:7.4f} "
              f"{r['ratio']:10.4f} {r['stop'] + ' @' + str(r['steps']):>14s}")
    ok_time = all(r["ratio"] <= 1 / 20 for r in rows)
    print(f"finder time <= 1/20 of the grid: {'PASS' if ok_time else 'MISS'}")
    print("\nper suggestion method: LR, decades from the grid's best, score when trained at it, regret")
    for method in METHODS:
        for r in rows:
            lr, d, at = r["measured"][method]
            print(f"{method:8s} {r['task']:56s} {lr:9.2e} {d:7.2f} {at:8.4f} "
                  f"{r['best_score'] - at:7.4f}")
        for group, name in ((False, "calibration"), (True, "held-out")):
            part = [r for r in rows if r["held_out"] == group]
            if part:
                ok = all(r["measured"][method][1] <= 0.5 for r in part)
                print(f"{method}: within half a decade of the grid's best on every "
                      f"{name} task: {'PASS' if ok else 'MISS'}")
    print("\nshort-horizon grid (21 rates x 300 steps in one sweep): LR, decades from the "
          "grid's best, score when trained at it, regret, cost vs the range test")
    for r in rows:
        lr, d, at, cost = r["horizon"]
        print(f"{'grid300':8s} {r['task']:56s} {lr:9.2e} {d:7.2f} {at:8.4f} "
              f"{r['best_score'] - at:7.4f} {cost:7.2f}x")
    for group, name in ((False, "calibration"), (True, "held-out")):
        part = [r for r in rows if r["held_out"] == group]
        if part:
            ok = all(r["horizon"][1] <= 0.25 + 1e-9 for r in part)
            print(f"short-horizon grid: within 0.25 decades of the grid's best on every "
                  f"{name} task: {'PASS' if ok else 'MISS'}")
    print("\ngrid scores (mean over seeds), learning rates " + " ".join(f"{lr:7.0e}" for lr in GRID))
    for line in grid_lines:
        print(line)
    if variant_rows:
        print("\ndefaults study: decades from the grid's best (and where the sweep stopped)")
        print(f"{'task':56s} {'steps':>5s} {'beta':>5s} {'suggested':>9s} {'decades':>7s} {'stop':>14s}")
        for name, n, beta, lr, d, stop, length in variant_rows:
            print(f"{name:56s} {n:5d} {beta:5.2f} {lr:9.2e} {d:7.2f} {stop + ' @' + str(length):>14s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
