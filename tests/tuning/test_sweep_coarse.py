"""`CoarseToFine(sweep_coarse=True)`: the coarse stage in one `keras_lr.sweep`,
each rate still a keras-tuner trial."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.tuning import CoarseToFine
from keras_lr.tuning import failed_trials
from tests.digits import load_digits


def test_coarse_trials_come_from_one_sweep(fresh_session, tmp_path):
    x, y = load_digits()
    x, y = x[:256], y[:256]
    built = []

    def build(hp):
        lr = hp.Float("learning_rate", 1e-3, 100.0, sampling="log")
        built.append(lr)
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(10)])
        model.compile(keras.optimizers.SGD(lr),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    tuner = CoarseToFine(build, objective="val_loss", max_trials=6, sweep_coarse=True,
                         directory=str(tmp_path), project_name="p")
    tuner.search(x, y, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
    trials = list(tuner.oracle.trials.values())
    coarse = [t for t in trials if t.hyperparameters.values["keras_lr/stage"] == "coarse"]
    assert sorted(t.hyperparameters.values["learning_rate"] for t in coarse) == pytest.approx(
        [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0])
    # keras-tuner builds once to read the search space; then one model for
    # the whole coarse stage (6 trials).
    assert len(trials) == 6 and len(built) == 2
    # Each coarse trial's score is its copy's, as a separate sweep gives it.
    reference = keras_lr.sweep(build(keras_lr.tuning.coarse_to_fine.kt.HyperParameters()),
                               x[:192], y[:192], learning_rates=[1e-2, 1e-1], epochs=2,
                               shuffle=False, validation_data=(x[192:], y[192:]), verbose=0)
    by_lr = {round(t.hyperparameters.values["learning_rate"], 8): t for t in coarse}
    for lr, history in zip([1e-2, 1e-1], reference.histories):
        score = by_lr[lr].metrics.get_last_value("val_loss")
        assert score == pytest.approx(history["val_loss"][-1], rel=1e-5)
    # The copies that diverged are failed trials, with their reason.
    failed = failed_trials(tuner)
    assert [f["values"]["learning_rate"] for f in failed] == pytest.approx([10.0, 100.0])
    assert all("diverged at step" in f["reason"] and "coarse sweep" in f["reason"]
               for f in failed)
    assert np.isfinite(tuner.oracle.get_best_trials(1)[0].score)
