"""Learning-rate-free optimizers at their defaults vs Adam at its best grid LR.

On offline tasks (scikit-learn's digits with an MLP and with a CNN, breast
cancer, the diabetes regression, and the digits 0-4 -> 5-9 fine-tuning
task), trains Adam at each learning rate of a log grid (21 points from 1e-5
to 1 by default) and keeps the best final validation score per seed, then
trains each learning-rate-free optimizer at its defaults, no tuning at all:
`Prodigy`, `DAdaptAdam`, `DoG`, `DoWG`, `Mechanic` around Keras's Adam
at its default 1e-3, `ScheduleFreeAdamW` (validated at its
average with `ScheduleFreeEval`), and Keras's own
`keras.optimizers.ScheduleFreeAdamW` evaluated as Keras does (at `y`).
Scores are validation accuracy, or minus the validation MSE for the
regression, averaged over seeds.

Target: Schedule-Free AdamW and Prodigy within 1 accuracy point (5% relative
loss on the regression) of the tuned grid on every task. It prints the
table and says which are met, then the cost of a step of each optimizer
against Adam on the digits MLP (interleaved rounds in this process).

    python benchmarks/lr_free.py [--seeds 3] [--grid-points 21] [--epochs 10]
                                 [--cost-only]
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


def tasks():
    from sklearn import datasets

    out = []
    (x, y), (xv, yv) = split(*datasets.load_digits(return_X_y=True))
    x, xv = (x / 16.0).astype("float32"), (xv / 16.0).astype("float32")
    out.append(dict(name="digits MLP", data=(x, y), validation=(xv, yv), kind="class",
                    layers=lambda: [keras.layers.Dense(128, activation="relu")], classes=10))
    out.append(dict(name="digits CNN", data=(x.reshape(-1, 8, 8, 1), y),
                    validation=(xv.reshape(-1, 8, 8, 1), yv), kind="class", classes=10,
                    layers=lambda: [keras.layers.Conv2D(16, 3, activation="relu",
                                                        padding="same"),
                                    keras.layers.MaxPooling2D(), keras.layers.Flatten()]))
    (x, y), (xv, yv) = split(*datasets.load_breast_cancer(return_X_y=True))
    x, xv = standardize(x, xv)
    out.append(dict(name="breast cancer MLP", data=(x, y), validation=(xv, yv), kind="class",
                    classes=2, layers=lambda: [keras.layers.Dense(32, activation="relu")]))
    (x, y), (xv, yv) = split(*datasets.load_diabetes(return_X_y=True))
    x, xv = standardize(x, xv)
    mean, std = y.mean(), y.std()
    y, yv = ((y - mean) / std).astype("float32"), ((yv - mean) / std).astype("float32")
    out.append(dict(name="diabetes regression MLP", data=(x, y), validation=(xv, yv),
                    kind="regression", layers=lambda: [keras.layers.Dense(32,
                                                                          activation="relu")]))
    out.append(_fine_tune_task())
    return out


def _fine_tune_task():
    """The digits 0-4 -> 5-9 task of examples/fine_tune.py (20 per class)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    source = y < 5
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    backbone = keras.Model(inputs, keras.layers.Dense(64, activation="relu")(h))
    pretrain = keras.Sequential([backbone, keras.layers.Dense(5)])
    pretrain.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pretrain.fit(x[source], y[source], epochs=15, batch_size=64, verbose=0)
    weights = backbone.get_weights()
    xt, yt = x[~source], y[~source] - 5
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(yt == c), 20, replace=False)
                            for c in range(5)])
    test = np.setdiff1d(np.arange(len(yt)), train)

    def layers():
        body = keras.models.clone_model(backbone)
        body.set_weights(weights)
        return [body]

    return dict(name="digits fine-tuning (20/class)", data=(xt[train], yt[train]),
                validation=(xt[test], yt[test]), kind="class", classes=5, layers=layers)


def _model(task, seed):
    keras.utils.set_random_seed(seed)
    x = task["data"][0]
    if task["kind"] == "class":
        head, loss, metrics = (keras.layers.Dense(task["classes"], activation="softmax"),
                               "sparse_categorical_crossentropy", ["accuracy"])
    else:
        head, loss, metrics = keras.layers.Dense(1), "mse", []
    model = keras.Sequential([keras.Input(x.shape[1:]), *task["layers"](), head])
    return model, loss, metrics


def score(task, seed, optimizer, epochs, callbacks=()):
    """The validation score; `optimizer` is an optimizer or `make(model)`."""
    model, loss, metrics = _model(task, seed)
    if callable(optimizer):
        optimizer = optimizer(model)
    model.compile(optimizer, loss, metrics=metrics)
    model.fit(*task["data"], epochs=epochs, batch_size=32, verbose=0,
              callbacks=list(callbacks))
    values = model.evaluate(*task["validation"], verbose=0, return_dict=True)
    if task["kind"] == "class":
        return float(values["accuracy"])
    return -float(values["loss"])


def _built(optimizer, model):
    optimizer.build(model.trainable_variables)
    return optimizer


# Each maker takes the (built) model. Keras 3.15's own ScheduleFreeAdamW is
# built explicitly: on TensorFlow, built by `fit`, its first step moves the
# weights by about 0.2 instead of the 2.5e-3 of Adam's first step (built
# explicitly, or on JAX, it behaves); "built by fit" shows what users get.
CANDIDATES = {
    "ScheduleFreeAdamW": (lambda m: keras_lr.optimizers.ScheduleFreeAdamW(),
                          lambda: [keras_lr.callbacks.ScheduleFreeEval()]),
    "Prodigy": (lambda m: keras_lr.optimizers.Prodigy(), list),
    "DAdaptAdam": (lambda m: keras_lr.optimizers.DAdaptAdam(), list),
    "DoG": (lambda m: keras_lr.optimizers.DoG(), list),
    "DoWG": (lambda m: keras_lr.optimizers.DoWG(), list),
    "Mechanic(Adam)": (lambda m: keras_lr.optimizers.Mechanic(keras.optimizers.Adam()), list),
    "keras ScheduleFreeAdamW (at y)": (
        lambda m: _built(keras.optimizers.ScheduleFreeAdamW(), m), list),
    "keras ScheduleFreeAdamW (at y; built by fit)": (
        lambda m: keras.optimizers.ScheduleFreeAdamW(), list),
}


def step_cost(rounds=7, steps=200):
    """ms per training step of each optimizer on the digits MLP (batch 32),
    the median of interleaved rounds, against Adam's."""
    task = tasks()[0]
    makers = {"Adam": (lambda m: keras.optimizers.Adam(), list), **CANDIDATES}
    x, y = task["data"]
    x = np.resize(x, (steps * 32,) + x.shape[1:])
    y = np.resize(y, (steps * 32,))
    models = {}
    for name, (make, callbacks) in makers.items():
        model, loss, metrics = _model(task, 0)
        model.compile(make(model), loss, metrics=metrics)
        model.fit(x[:64], y[:64], batch_size=32, verbose=0)  # compile
        models[name] = (model, callbacks())
    times = {name: [] for name in makers}
    for _ in range(rounds):
        for name, (model, callbacks) in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
            times[name].append((time.perf_counter() - start) / steps * 1e3)
    base = float(np.median(times["Adam"]))
    print(f"\nCost of a step, digits MLP (9.6k weights), batch 32, median of {rounds} "
          f"interleaved rounds of {steps} steps, backend {keras.backend.backend()}:\n")
    print("| optimizer | ms/step | vs Adam |")
    print("|---|---|---|")
    for name, values in times.items():
        median = float(np.median(values))
        print(f"| {name} | {median:.3f} | {median / base:.2f}x |")


def only(names, seeds, epochs):
    """The named candidates' scores, without the Adam grid."""
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
    print(f"Validation score after {epochs} epochs, mean of {seeds} seeds "
          "(accuracy; minus the MSE for the regression)\n")
    print("| task | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for task in tasks():
        cells = []
        for name in names:
            make, callbacks = CANDIDATES[name]
            cells.append(f"{np.mean([score(task, s, make, epochs, callbacks()) for s in range(seeds)]):.4f}")
        print(f"| {task['name']} | " + " | ".join(cells) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid-points", type=int, default=21)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cost-only", action="store_true",
                        help="only the cost of a step")
    parser.add_argument("--only", default=None,
                        help="comma-separated candidates: their scores alone (no Adam grid)")
    args = parser.parse_args()
    if args.cost_only:
        step_cost()
        return
    if args.only:
        only(args.only.split(","), args.seeds, args.epochs)
        return
    grid = np.logspace(-5, 0, args.grid_points)
    rows = []
    for task in tasks():
        start = time.perf_counter()
        grid_scores = np.array([[score(task, s, keras.optimizers.Adam(float(lr)), args.epochs)
                                 for s in range(args.seeds)] for lr in grid])
        means = grid_scores.mean(axis=1)
        best = int(np.nanargmax(means))
        results = {}
        for name, (make, callbacks) in CANDIDATES.items():
            results[name] = float(np.mean([score(task, s, make, args.epochs, callbacks())
                                           for s in range(args.seeds)]))
        rows.append((task, grid[best], means[best], results, time.perf_counter() - start))
        print(f"{task['name']}: done in {time.perf_counter() - start:.0f}s", flush=True)
    names = list(CANDIDATES)
    print(f"\nValidation score after {args.epochs} epochs, mean of {args.seeds} seeds "
          "(accuracy; minus the MSE for the regression). Adam: the best of "
          f"{args.grid_points} learning rates from 1e-5 to 1.\n")
    print("| task | Adam at its best LR | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    verdicts = {name: True for name in ("ScheduleFreeAdamW", "Prodigy")}
    for task, lr, tuned, results, _ in rows:
        cells = []
        for name in names:
            value = results[name]
            if task["kind"] == "class":
                gap = tuned - value
                ok = gap <= 0.01
                cells.append(f"{value:.4f} ({-gap * 100:+.1f} pt)")
            else:
                gap = (tuned - value) / abs(tuned)
                ok = gap <= 0.05
                cells.append(f"{value:.4f} ({-gap * 100:+.1f}%)")
            if name in verdicts:
                verdicts[name] &= ok
        print(f"| {task['name']} | {tuned:.4f} (lr {lr:.1e}) | " + " | ".join(cells) + " |")
    print()
    for name, ok in verdicts.items():
        print(f"{name} within 1 point (5% on the regression) of the tuned grid on every "
              f"task: {'met' if ok else 'NOT MET'}")
    step_cost()


if __name__ == "__main__":
    main()
