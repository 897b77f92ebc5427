"""How fast each LR search gets within 1 point of the grid's best accuracy.

Three offline tasks (digits, breast cancer, wine; an MLP trained with SGD
and momentum 0.9 at a constant LR for a fixed number of epochs). Three
searches over the same range, 1e-5 ... 1, all through keras-tuner with the
same `keras_lr.tuning.LRHyperModel` (same seeds, so the same LR gives the
same model):

- **grid**: every quarter decade (21 trials), in ascending order;
- **random**: keras-tuner's `RandomSearch` with log sampling (21 trials);
- **coarse-to-fine**: `keras_lr.tuning.CoarseToFine` with its defaults, one
  trial per decade, then golden-section refinement (12 trials at most);
- **coarse-to-fine, short coarse**: the same with the coarse stage on a
  quarter of the training data for a third of the epochs (then the best
  coarse LR is re-run at the full budget first).

For each it prints the number of trials and the wall time until a trial
(at the full budget) is within 1 point of the grid's best validation
accuracy, and the ratio of coarse-to-fine's time to the whole grid's (the
grid's best is only known once it has run every point). Target: at most a
third. With `--plots DIR` it draws accuracy against LR for the first task.

    python benchmarks/tuning_quality.py [--plots DIR] [--tasks digits,wine]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402

from keras_lr.tuning import CoarseToFine  # noqa: E402
from keras_lr.tuning import LRHyperModel  # noqa: E402
from keras_lr.tuning.coarse_to_fine import STAGE  # noqa: E402

MIN_LR, MAX_LR = 1e-5, 1.0
SEARCHES = ("grid", "random", "coarse-to-fine", "coarse-to-fine, short coarse")
PLOTTED = "coarse-to-fine, short coarse"  # the figure shows both stages' budgets
GRID = [float(v) for v in np.logspace(-5, 0, 21)]
WITHIN = 0.01  # one point of accuracy


def tasks():
    from sklearn import datasets

    def split(x, y, seed=0):
        x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")
        order = np.random.default_rng(seed).permutation(len(x))
        x, y = x[order], y[order].astype("int32")
        cut = int(0.7 * len(x))
        return (x[:cut], y[:cut]), (x[cut:], y[cut:])

    return {
        "digits": split(*datasets.load_digits(return_X_y=True)) + (12,),
        "breast cancer": split(*datasets.load_breast_cancer(return_X_y=True)) + (30,),
        "wine": split(*datasets.load_wine(return_X_y=True)) + (60,),
    }


def hypermodel(inputs, classes):
    def build_model(hp):
        keras.utils.set_random_seed(0)  # the same initial weights for every LR
        return keras.Sequential([keras.Input((inputs,)),
                                 keras.layers.Dense(64, activation="relu"),
                                 keras.layers.Dense(64, activation="relu"),
                                 keras.layers.Dense(classes)])

    return LRHyperModel(build_model, optimizer="sgd", min_lr=MIN_LR, max_lr=MAX_LR,
                        schedules=("constant",), optimizer_kwargs={"momentum": 0.9},
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])


class GridOracle(kt.Oracle):
    """The grid, in ascending order."""

    def populate_space(self, trial_id):
        index = len(self.trials)
        if index >= len(GRID):
            return {"status": "STOPPED"}
        return {"status": "RUNNING", "values": {"learning_rate": GRID[index]}}


class Timed:
    """Records when each trial ends, its LR, score and stage."""

    def on_search_begin(self):
        super().on_search_begin()
        self.started, self.log = time.perf_counter(), []

    short_coarse = False

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        done = self.oracle.get_trial(trial.trial_id)
        score = done.score if done.status == "COMPLETED" else None
        stage = done.hyperparameters.values.get(STAGE, "grid")
        self.log.append(dict(
            lr=done.hyperparameters.values["learning_rate"], score=score, stage=stage,
            full_budget=not (self.short_coarse and stage == "coarse"),
            seconds=time.perf_counter() - self.started))


def run_search(kind, task, directory, verbose):
    (x, y), (xv, yv), epochs = task
    model = hypermodel(x.shape[1], int(y.max()) + 1)
    common = dict(objective="val_accuracy", directory=directory,
                  project_name=kind.replace(",", "").replace(" ", "_"), overwrite=True)
    if kind == "grid":
        tuner = type("GridSearch", (Timed, kt.Tuner), {})(
            GridOracle(objective="val_accuracy", max_trials=len(GRID),
                       max_consecutive_failed_trials=None), model,
            directory=directory, project_name="grid", overwrite=True)
    elif kind == "random":
        tuner = type("Random", (Timed, kt.RandomSearch), {})(
            model, max_trials=len(GRID), seed=1, max_consecutive_failed_trials=len(GRID),
            **common)
    elif kind == "coarse-to-fine":
        tuner = type("C2F", (Timed, CoarseToFine), {})(model, max_trials=12, **common)
    else:
        tuner = type("C2FShort", (Timed, CoarseToFine), {"short_coarse": True})(
            model, max_trials=12, coarse_sample=0.25, coarse_epochs=max(1, epochs // 3),
            seed=1, **common)
    tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32,
                 verbose=0)
    return tuner.log


def first_within(log, target):
    """(trials, seconds) until a full-budget trial reaches `target`."""
    for i, entry in enumerate(log):
        if entry["full_budget"] and entry["score"] is not None \
                and entry["score"] >= target - 1e-9:
            return i + 1, entry["seconds"]
    return None, None


def plot(name, logs, directory):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    grid = [e for e in logs["grid"] if e["score"] is not None]
    ax.plot([e["lr"] for e in grid], [e["score"] for e in grid], "-", color="0.6",
            label="grid (21 trials)")
    for stage, style in (("coarse", "s"), ("refine", "o")):
        points = [(i, e) for i, e in enumerate(logs[PLOTTED], 1)
                  if e["stage"] == stage]
        ax.scatter([e["lr"] for _, e in points],
                   [e["score"] if e["score"] is not None else 0 for _, e in points],
                   marker=style, zorder=3,
                   label=f"coarse-to-fine: {stage}" + (" (1/4 data, 1/3 epochs)"
                                                       if stage == "coarse" else ""))
        for i, e in points:
            ax.annotate(str(i), (e["lr"], e["score"] or 0), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{name}: trials in search order (failed trials at 0)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    path = os.path.join(directory, "tuning_search.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plots", default=None, help="directory for the figure")
    parser.add_argument("--tasks", default=None, help="comma-separated subset")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    all_tasks = tasks()
    names = args.tasks.split(",") if args.tasks else list(all_tasks)
    directory = tempfile.mkdtemp(prefix="tuning_quality_")
    rows, met = [], True
    try:
        for number, name in enumerate(names):
            logs = {kind: run_search(kind, all_tasks[name], directory, args.verbose)
                    for kind in SEARCHES}
            best = max(e["score"] for e in logs["grid"] if e["score"] is not None)
            grid_time = logs["grid"][-1]["seconds"]
            for kind, log in logs.items():
                trials, seconds = first_within(log, best - WITHIN)
                full = [e for e in log if e["full_budget"] and e["score"] is not None]
                top = max(full, key=lambda e: e["score"])
                rows.append((name, kind, trials, seconds, len(log), log[-1]["seconds"],
                             top["score"], top["lr"], seconds / grid_time if seconds else None))
                if kind == "coarse-to-fine":
                    met &= seconds is not None and seconds <= grid_time / 3
            print(f"# {name}: grid best val accuracy {best:.4f}", flush=True)
            if args.plots and number == 0:
                plot(name, logs, args.plots)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    print()
    print("| task | search | trials to within 1 pt | time to within 1 pt (s) | "
          "trials run | total time (s) | best val acc | its LR | time / whole grid |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kind, trials, seconds, n, total, score, lr, ratio in rows:
        reached = "not reached" if trials is None else str(trials)
        print(f"| {name} | {kind} | {reached} | "
              f"{'-' if seconds is None else f'{seconds:.1f}'} | {n} | {total:.1f} | "
              f"{score:.4f} | {lr:.2g} | {'-' if ratio is None else f'{ratio:.2f}'} |")
    print()
    print(f"Target (coarse-to-fine within 1 point in at most a third of the grid's "
          f"time on every task): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
