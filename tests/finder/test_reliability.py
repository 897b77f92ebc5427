"""An answer that knows when it is not reliable (issue 25): each case warns,
with what to do, before anyone trains at its rate."""

import re
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.finder import LRFinderResult
from keras_lr.finder import UnreliableCurveError
from keras_lr.finder.result import FinderWarning


def _wine():
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    return x, y


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((13,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    return model


def test_tiny_data_read_many_times_warns_with_a_smaller_num_steps(fresh_session):
    # The case: wine, 5 batches, the default 300 steps read it ~50 times.
    x, y = _wine()
    with pytest.warns(FinderWarning, match=r"read its data about \d+ times.*`num_steps` of "
                                           r"about \d+"):
        result = keras_lr.find_lr(_model(), x, y, repeats=1, seed=0, verbose=0)
    assert any("times" in note for note in result.notes)
    assert re.search(r"\d\. Caution: each sweep", result.summary())  # a sentence of its own
    with warnings.catch_warnings():
        warnings.simplefilter("error", FinderWarning)  # enough data: no warning
        keras_lr.find_lr(_model(), np.tile(x, (60, 1)), np.tile(y, 60), num_steps=60,
                         repeats=1, seed=0, verbose=0, end_lr=100.0)


def test_a_loss_still_falling_at_the_end_of_the_sweep_warns():
    lrs = np.geomspace(1e-6, 1e-3, 100)
    result = LRFinderResult(lrs, np.linspace(2.0, 0.5, 100),
                            config={"end_lr": 1e-3, "smoothing": 0.0})
    messages = result.reliability()
    assert messages and "Raise `end_lr`" in messages[0]
    falls_then_rises = LRFinderResult(
        lrs, np.concatenate([np.linspace(2.0, 0.5, 70), np.linspace(0.5, 3.0, 30)]))
    assert falls_then_rises.reliability() == []


def test_suggestion_and_suggest_range_agree_on_whether_there_is_an_answer():
    lrs = np.geomspace(1e-6, 1.0, 100)
    good = LRFinderResult(lrs, np.concatenate([np.linspace(2, 0.5, 70), np.linspace(0.5, 3, 30)]))
    flat = LRFinderResult(lrs, np.full(100, 2.0))
    combined = LRFinderResult(lrs, good.losses, runs=[good, flat, flat])
    assert combined.suggestion() > 0
    low, high = combined.suggest_range()  # once raised while suggestion() answered
    assert 0 < low < high
    nothing = LRFinderResult(lrs, flat.losses, runs=[flat, flat])
    for call in (nothing.suggestion, nothing.suggest_range):
        with pytest.raises(UnreliableCurveError):
            call()


def test_fit_one_cycle_without_an_answer_names_max_lr(fresh_session):
    x, y = _wine()
    model = _model()  # a sweep that starts far too high diverges at once: no answer
    with pytest.raises(ValueError, match="`max_lr=` to fit_one_cycle, `base_lr=` to fine_tune"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FinderWarning)
            keras_lr.fit_one_cycle(model, x, y, epochs=1, verbose=0,
                                   find_lr_kwargs={"num_steps": 30, "repeats": 1,
                                                   "start_lr": 1e4, "end_lr": 1e6})
