"""How right is each finder, on tasks nobody tuned it on, and what does it cost?

For every task of `finder_tasks.py` (six calibration, eight held out) and
every seed (0, 1, 2: initial weights and data order), runs each finder on
a fresh model and compares its answer with the task's full grid
(`finder_grid.py`, cached in `benchmarks/finder_grids/`: 21 rates in
quarter-decade steps x 3 seeds, the task's whole budget):

- **decades**: `|log10(suggestion / grid best)|`, the grid's best by the
  mean over the seeds;
- **regret**: the grid's best score minus its score at the suggestion (the
  mean curve interpolated in log10(lr)), in points: accuracy points, or
  percent of the best loss for the regressions;
- **time**: the finder's wall time over the grid's (63 fits of the task,
  one measured in this process).

Target (issue 25): within 0.25 decades, or regret at most 0.5 points, on
every held-out task and every seed, in at most 1/10 of the grid's time.

    KERAS_BACKEND=jax python benchmarks/finder_quality.py [--tasks a,b] [--methods m,n]
        [--json out.json]
    python benchmarks/finder_quality.py --render a.json,b.json  # tables of earlier runs
"""

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
import finder_grid  # noqa: E402
import finder_tasks  # noqa: E402
from keras_lr.finder import UnreliableCurveError  # noqa: E402

SEEDS = (0, 1, 2)
DECADES, REGRET, TIME = 0.25, 0.5, 0.1


_SWEEPS = {}
_EXTRA = {}  # (slug, seed) -> what the last method kept for the JSON (halving's rungs)


def _range_test(method, **kwargs):
    """The range test's `method` (one sweep per task, seed and settings: the
    methods read the same curve; its time is counted once per method)."""
    def run(task, seed):
        key = (task["slug"], seed, tuple(sorted(kwargs.items())))
        if key not in _SWEEPS:
            x, y, _, _ = task["data"]
            model = finder_tasks.compiled(task, 1e-3, seed)
            start = time.perf_counter()
            result = keras_lr.find_lr(model, x, y, batch_size=task["batch_size"], seed=seed,
                                      verbose=0, **kwargs)
            _SWEEPS[key] = (result, time.perf_counter() - start)
        result, seconds = _SWEEPS[key]
        return result.suggestion(method), seconds
    return run


def _short_horizon(task, seed):
    x, y, _, _ = task["data"]
    model = finder_tasks.compiled(task, 1e-3, seed)
    lr, _ = keras_lr.sweeps.short_horizon_grid(model, x, y, batch_size=task["batch_size"],
                                               shuffle_seed=seed)
    return lr


def _halving(metric=None, own_split=False, **kwargs):
    """`halving_grid` scored on the task's validation data (what the grid is
    scored on, and what a user passes), or on its own split of `x`."""
    def run(task, seed):
        x, y, xv, yv = task["data"]
        model = finder_tasks.compiled(task, 1e-3, seed)
        chosen = metric or ("val_loss" if task["metric"] == "-val_loss" else task["metric"])
        validation = None if own_split else (xv, yv)
        lr, result = keras_lr.sweeps.halving_grid(model, x, y, epochs=task["epochs"],
                                                  batch_size=task["batch_size"],
                                                  validation_data=validation,
                                                  shuffle_seed=seed, metric=chosen, **kwargs)
        _EXTRA[task["slug"], seed] = {"rungs": [
            {"step": r["step"], "scores": {repr(k): v for k, v in r["scores"].items()}}
            for r in result.rungs]}
        return lr
    return run


METHODS = {
    "range test (minimum)": _range_test("minimum"),
    "range test (valley)": _range_test("valley"),
    "short-horizon grid": _short_horizon,
    "halving grid": _halving("val_loss"),  # its defaults: what the docs recommend
    "halving grid (4 rungs)": _halving("val_loss", rungs=4),
    "halving grid (own split)": _halving("val_loss", own_split=True),
    "halving grid (task metric)": _halving(),
}
# The range test's cost against its answer (`--methods` picks them).
for _steps, _repeats in ((100, 1), (100, 3), (300, 1)):  # 300x3: the default
    METHODS[f"range test {_steps}x{_repeats}"] = _range_test(
        "minimum", num_steps=_steps, repeats=_repeats)


def load_grid(slug):
    with open(finder_grid.path_of(slug)) as f:
        grid = json.load(f)
    rates = np.array(grid["learning_rates"])
    mean = np.array(grid["scores"], dtype=float).mean(axis=0)  # NaN where a seed diverged
    return rates, mean, grid


def regret_points(task, rates, mean, lr):
    """The mean grid score lost at `lr`, in points (interpolated in log10)."""
    best = float(np.nanmax(mean))
    filled = np.where(np.isfinite(mean), mean, np.nanmin(mean) - 1.0)
    at = float(np.interp(math.log10(lr), np.log10(rates), filled))
    scale = 100.0 if task["metric"] != "-val_loss" else 100.0 / abs(best)
    return (best - at) * scale


def measure(makes, methods):
    rows = []
    for make in makes:
        task = finder_tasks.load(make)
        rates, mean, _ = load_grid(task["slug"])
        best = float(rates[int(np.nanargmax(mean))])
        grid_seconds = len(rates) * len(SEEDS) * finder_grid.fit_seconds(task)
        for name, run in methods.items():
            for seed in SEEDS:
                start = time.perf_counter()
                _EXTRA.pop((task["slug"], seed), None)
                try:
                    lr = run(task, seed)
                    if isinstance(lr, tuple):  # (answer, its own time)
                        lr, seconds = lr
                    else:
                        seconds = time.perf_counter() - start
                    lr = float(lr)
                except (UnreliableCurveError, ValueError) as e:
                    lr, error, seconds = math.nan, str(e)[:80], time.perf_counter() - start
                else:
                    error = ""
                ok = math.isfinite(lr)
                decades = abs(math.log10(lr / best)) if ok else math.inf
                regret = regret_points(task, rates, mean, lr) if ok else math.inf
                rows.append(dict(task=task["slug"], name=task["name"], group=task["group"],
                                 method=name, seed=seed, lr=lr, best=best, decades=decades,
                                 regret=regret, time_ratio=seconds / grid_seconds, error=error,
                                 met=decades <= DECADES + 1e-9 or regret <= REGRET,
                                 **_EXTRA.pop((task["slug"], seed), {})))
                print(f"{task['slug']:26s} {name:26s} seed {seed}: {lr:9.2e} (best {best:.2e})"
                      f" {decades:5.2f} dec, regret {regret:6.2f} pt, "
                      f"{seconds / grid_seconds:6.3f} of the grid {error}", flush=True)
    return rows


def summary(rows):
    """The verdict per method and group (what `docs/benchmarks.md` quotes)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print(f"\nkeras {keras.__version__}, backend {keras.backend.backend()}, keras-lr "
          f"{keras_lr.__version__}; target: within {DECADES} decades or regret <= {REGRET} "
          f"points on every task and seed, time <= {TIME} of the grid")
    print(f"{'method':26s} {'group':12s} {'met':>7s} {'worst dec':>9s} {'worst regret':>12s} "
          f"{'max time':>8s}  verdict")
    for name in methods:
        for group in ("calibration", "held-out"):
            part = [r for r in rows if r["method"] == name and r["group"] == group]
            if not part:
                continue
            met = sum(r["met"] for r in part)
            worst_time = max(r["time_ratio"] for r in part)
            verdict = "MET" if met == len(part) and worst_time <= TIME else "NOT MET"
            print(f"{name:26s} {group:12s} {met:3d}/{len(part):<3d} "
                  f"{max(r['decades'] for r in part):9.2f} {max(r['regret'] for r in part):12.2f}"
                  f" {worst_time:8.3f}  {verdict}")


def markdown(rows):
    """One row per task, one column per method: the seeds' answers' worst
    distance, worst regret and how many seeds met the target."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print("\n| task | group | grid best | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for slug in dict.fromkeys(r["task"] for r in rows):
        part = [r for r in rows if r["task"] == slug]
        cells = []
        for name in methods:
            m = [r for r in part if r["method"] == name]
            if not m:
                cells.append("")
                continue
            met = sum(r["met"] for r in m)
            dec = max(r["decades"] for r in m)
            reg = max(r["regret"] for r in m)
            cell = f"{dec:.2f} dec, {reg:.2f} pt, {met}/{len(m)}"
            cells.append(cell if met == len(m) else f"**{cell}**")
        first = part[0]
        print(f"| {first.get('name', slug)} | {first['group']} | {first['best']:.2g} | "
              + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="comma-separated slugs (default all)")
    parser.add_argument("--methods", default=None, help="comma-separated method names")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    parser.add_argument("--render", default=None,
                        help="comma-separated JSON files of earlier runs: print their tables "
                             "without running anything")
    args = parser.parse_args()
    if args.render:
        rows = []
        for path in args.render.split(","):
            with open(path) as f:
                rows.extend(json.load(f))
    else:
        makes = finder_tasks.TASKS if not args.tasks else [
            finder_tasks.by_slug(s) for s in args.tasks.split(",")]
        methods = METHODS if not args.methods else {
            m: METHODS[m] for m in args.methods.split(",")}
        rows = measure(makes, methods)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    summary(rows)
    markdown(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
