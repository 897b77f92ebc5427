"""The ground truth of the finder benchmark: a full grid per task, cached.

For every task of `finder_tasks.py`: 21 constant learning rates in
quarter-decade steps from 1e-5 to 1, 3 seeds (initial weights and data
order), the task's full budget (its epochs at its batch size), scored on its
validation data. The rates of one seed train together in one
`keras_lr.sweep` (each copy equals a separate `fit` at its rate: tested in
`tests/sweeps/`), so the grid costs a fraction of 63 fits. Written to
`benchmarks/finder_grids/<task>.json`; `finder_quality.py` reads them, so a
re-run of the finders costs only the finders.

    KERAS_BACKEND=jax python benchmarks/finder_grid.py [--tasks digits_mlp,...] [--force]
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
import finder_tasks  # noqa: E402

GRID = [float(v) for v in np.logspace(-5, 0, 21)]
SEEDS = (0, 1, 2)
FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "finder_grids")


def path_of(slug):
    return os.path.join(FOLDER, f"{slug}.json")


def grid_scores(task, seed, learning_rates=GRID):
    """`(scores, seconds)`: the task's score after its full budget at each rate."""
    x, y, xv, yv = task["data"]
    model = finder_tasks.compiled(task, 1e-3, seed)
    start = time.perf_counter()
    result = keras_lr.sweep(model, x, y, learning_rates=learning_rates,
                            epochs=task["epochs"], batch_size=task["batch_size"],
                            validation_data=(xv, yv), seeds=[seed] * len(learning_rates),
                            shuffle_seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    return [finder_tasks.score_of(h, task) for h in result.histories], seconds


def fit_seconds(task, seed=0, lr=1e-3):
    """One `fit` of the task's full budget: what each grid point costs a user."""
    x, y, xv, yv = task["data"]
    model = finder_tasks.compiled(task, lr, seed)
    start = time.perf_counter()
    model.fit(x, y, epochs=task["epochs"], batch_size=task["batch_size"],
              validation_data=(xv, yv), verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="comma-separated slugs (default all)")
    parser.add_argument("--force", action="store_true", help="recompute cached grids")
    args = parser.parse_args()
    os.makedirs(FOLDER, exist_ok=True)
    makes = finder_tasks.TASKS if not args.tasks else [
        finder_tasks.by_slug(s) for s in args.tasks.split(",")]
    for make in makes:
        task = finder_tasks.load(make)
        if os.path.exists(path_of(task["slug"])) and not args.force:
            print(f"{task['slug']}: cached")
            continue
        scores, seconds = [], []
        for seed in SEEDS:
            values, spent = grid_scores(task, seed)
            scores.append(values)
            seconds.append(spent)
        record = dict(task=task["name"], slug=task["slug"], group=task["group"],
                      metric=task["metric"], learning_rates=GRID, seeds=list(SEEDS),
                      scores=scores, sweep_seconds=seconds, fit_seconds=fit_seconds(task),
                      keras=keras.__version__, backend=keras.backend.backend(),
                      keras_lr=keras_lr.__version__)
        with open(path_of(task["slug"]), "w") as f:
            json.dump(record, f, indent=1)
        mean = np.nanmean(np.array(scores, dtype=float), axis=0)
        best = int(np.nanargmax(mean))
        print(f"{task['slug']}: best {GRID[best]:.2e} ({mean[best]:.4f}), "
              f"{sum(seconds):.0f}s for the grid, one fit {record['fit_seconds']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
