"""Lightning's LR-finder suggestion cases, asked of keras-lr's finder.

Source of the cases: Lightning-AI/pytorch-lightning,
tests/tests_pytorch/tuner/test_lr_finder.py (commit 043c3817, Lightning
2.6): `test_multiple_lr_find_calls_gives_same_results`,
`test_suggestion_with_non_finite_values`, `test_accumulation_and_early_stopping`
and the table of `test_suggestion_not_enough_finite_points`. Lightning is not
installed here (it would pull its own torch); each case is written against
keras-lr's API with Lightning's settings and expectations.

Documented differences (docs/lr_finder.md), strict xfail where a case of
the table gets a Lightning answer and a keras-lr refusal:
- keras-lr needs 10 usable points for a suggestion (Lightning: 2): fewer
  give `UnreliableCurveError`, never a number from 2-4 points;
- a NaN or infinite loss ends the usable curve (everything after it is
  divergence); Lightning drops the non-finite points wherever they are.
"""

import math

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.finder import UnreliableCurveError
from keras_lr.finder.suggestions import clean_curve


def _model(seed=1, **optimizer_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, **optimizer_kwargs), "mse")
    return model


def _data():
    rng = np.random.default_rng(1)  # Lightning's BoringModel: random inputs
    x = rng.normal(size=(64, 32)).astype("float32")
    return x, rng.normal(size=(64, 2)).astype("float32")


def test_multiple_lr_find_calls_give_the_same_results():
    x, y = _data()
    model = _model()
    results = []
    for _ in range(3):
        keras.utils.set_random_seed(1)  # Lightning's seed_everything(1)
        results.append(keras_lr.find_lr(model, x, y, num_steps=40, repeats=1, verbose=0))
    for other in results[1:]:
        np.testing.assert_array_equal(other.learning_rates, results[0].learning_rates)
        np.testing.assert_array_equal(other.losses, results[0].losses)
        assert len(other) > 10


def test_a_non_finite_last_loss_does_not_change_the_suggestion():
    x, y = _data()
    result = keras_lr.find_lr(_model(), x, y, num_steps=100, repeats=1, seed=1, verbose=0)
    before = result.suggestion()
    losses = result.losses.copy()
    losses[-1] = math.nan
    after = keras_lr.LRFinderResult(result.learning_rates, losses,
                                    config=result.config).suggestion()
    assert before == after


def test_accumulation_gives_one_point_per_update():
    # Lightning: accumulate_grad_batches=2, 100 points over 200 batches.
    x, y = _data()
    model = _model(gradient_accumulation_steps=2)
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    finder = keras_lr.callbacks.LRFinder(num_steps=100, diverge_threshold=None)
    model.fit(np.tile(x, (100, 1)), np.tile(y, (100, 1)), batch_size=32, epochs=1,
              verbose=0, shuffle=False, callbacks=[finder, Count()])
    assert len(finder.result.learning_rates) == len(finder.result.losses) == 100
    assert seen[-1] == 199  # the 200th batch, the 100th update


NAN, INF = float("nan"), float("inf")
# (skip_begin, skip_end, losses, Lightning refuses): Lightning's table.
TABLE = [
    (0, 0, [], True),
    (10, 1, [], True),
    (0, 2, [0, 1, 2], True),
    (0, 1, [0, 1, 2], False),
    (1, 1, [0, 1, 2], True),
    (1, 1, [0, 1, 2, 3], False),
    (0, 1, [NAN, NAN, 0, INF, 1, 2, 3, INF, 2, NAN, 1], False),
    (4, 1, [NAN, NAN, 0, INF, 1, 2, 3, INF, 2, NAN, 1], False),
]


def _answered():
    """The cases Lightning answers from 2-4 points (keras-lr refuses them)."""
    mark = pytest.mark.xfail(strict=True, raises=UnreliableCurveError, reason=(
        "documented difference: keras-lr needs 10 usable points, and a "
        "non-finite loss ends the usable curve"))
    return [pytest.param(b, e, losses, id=f"case{i}", marks=mark)
            for i, (b, e, losses, refuses) in enumerate(TABLE) if not refuses]


@pytest.mark.parametrize("skip_begin, skip_end, losses", _answered())
def test_lightnings_answered_cases(skip_begin, skip_end, losses):
    lrs = np.arange(len(losses), dtype="float64") + 1.0
    # Lightning's decreasing-enough check is its own; keras-lr's curve must
    # also fall: the table's losses rise, so they are mirrored.
    falling = [-v if math.isfinite(v) else v for v in losses]
    clean_curve(lrs, np.asarray(falling, dtype="float64"), skip_begin, skip_end)


def test_the_table_refusals_are_refused():
    for skip_begin, skip_end, losses, refuses in TABLE:
        if refuses:
            with pytest.raises(UnreliableCurveError):
                clean_curve(np.arange(len(losses)) + 1.0, np.asarray(losses, "float64"),
                            skip_begin, skip_end)
