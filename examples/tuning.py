"""Coarse-to-fine learning-rate search with keras-tuner, offline on the digits.

1. `keras_lr.tuning.CoarseToFine` tries one LR per decade (1e-5 ... 1) on a
   quarter of the training data, then refines around the best decade at the
   full budget; LRs whose loss diverges are stopped after a few steps and
   recorded as failed, with the reason.
2. The same search seeded by an LR range test (`keras_lr.find_lr`) skips the
   coarse stage.

Prints every trial (stage, LR, validation accuracy or why it failed) and the
best LR of each search.

    python examples/tuning.py [--epochs 8] [--max-trials 10] [--directory DIR]
"""

import argparse
import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import tuning  # noqa: E402
from _data import digits  # noqa: E402


def build_model(hp):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])


def hypermodel():
    return tuning.LRHyperModel(
        build_model, optimizer="sgd", optimizer_kwargs={"momentum": 0.9},
        min_lr=1e-5, max_lr=1.0, schedules=("constant",),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])


def report(title, tuner):
    print(f"\n{title}")
    failed = {f["trial_id"]: f["reason"] for f in tuning.failed_trials(tuner)}
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        values = trial.hyperparameters.values
        outcome = (f"val accuracy {trial.score:.4f}" if trial_id not in failed
                   else f"failed: {failed[trial_id]}")
        print(f"  trial {trial_id} {values['keras_lr/stage']:6s} "
              f"lr {values['learning_rate']:<10.3g} {outcome}")
    best = tuning.best_hyperparameters(tuner)[0]["learning_rate"]
    print(f"  best learning rate: {best:.3g} (log10 {math.log10(best):.2f})")


def build_model_hp():
    """Hyperparameters for building one model outside a search."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", 1e-3)
    return hp


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--directory", default=None, help="keep the search here")
    args = parser.parse_args()
    directory = args.directory or tempfile.mkdtemp(prefix="keras_lr_tuning_")
    (x, y), (x_val, y_val) = digits()
    fit = dict(validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32,
               verbose=0)

    tuner = tuning.CoarseToFine(
        hypermodel(), objective="val_accuracy", max_trials=args.max_trials,
        coarse_sample=0.25, coarse_epochs=max(1, args.epochs // 3),
        directory=directory, project_name="coarse_to_fine", overwrite=True)
    tuner.search(x, y, **fit)
    report("CoarseToFine, coarse stage on 1/4 of the data:", tuner)

    model = hypermodel().build(build_model_hp())
    result = keras_lr.find_lr(model, x, y, batch_size=32, start_lr=1e-5, end_lr=10.0,
                              verbose=0)
    low, high = result.suggest_range()
    print(f"\nLR range test: suggestion {result.suggestion():.3g}, "
          f"range {low:.3g} ... {high:.3g}")
    seeded = tuning.CoarseToFine(
        hypermodel(), objective="val_accuracy", max_trials=max(3, args.max_trials // 2),
        finder_result=result, directory=directory, project_name="seeded", overwrite=True)
    seeded.search(x, y, **fit)
    report("CoarseToFine seeded by the LR range test (no coarse stage):", seeded)


if __name__ == "__main__":
    main()
