"""`keras_lr.sweeps.halving_grid`: successive halving inside one sweep. The
copies left train exactly as a plain sweep's (as `fit` would) at their
rates; the dropped ones stop where they were dropped."""

import keras
import numpy as np
import pytest

import keras_lr
from tests.digits import load_digits


@pytest.fixture(scope="module")
def data():
    x, y = load_digits()
    return x[:400], y[:400]


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_the_survivors_train_as_a_plain_sweep(data, fresh_session):
    x, y = data
    rates = [1e-4, 1e-3, 1e-2, 1e-1]
    lr, result = keras_lr.sweeps.halving_grid(_mlp(), x, y, epochs=4, learning_rates=rates,
                                              rungs=2, batch_size=32, shuffle=False)
    survivors = [k for k, step in enumerate(result.dropped_at) if step is None]
    assert len(survivors) == 2
    steps = 4 * int(np.ceil(320 / 32))  # 80% of the rows train, 10 batches an epoch
    assert all(step == steps // 2 for step in result.dropped_at if step is not None)
    assert [r["step"] for r in result.rungs] == [steps // 2, steps]
    # The survivors: as a plain sweep of their rates on the same 80% of the rows.
    plain = keras_lr.sweep(_mlp(), x[:320], y[:320], learning_rates=[rates[k] for k in survivors],
                           epochs=4, batch_size=32, shuffle=False, verbose=0)
    for i, k in enumerate(survivors):
        for ours, theirs in zip(result.weights(k), plain.weights(i)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    # The answer is the best survivor by held-out loss at the last rung.
    final = result.rungs[-1]["scores"]
    assert lr == min(final, key=final.get)
    with pytest.raises(ValueError, match="was dropped"):
        result.weights(next(k for k, s in enumerate(result.dropped_at) if s is not None))


def test_ranked_by_a_metric_in_its_direction(data, fresh_session):
    x, y = data
    lr, result = keras_lr.sweeps.halving_grid(_mlp(), x, y, epochs=2, rungs=3,
                                              learning_rates=[1e-5, 1e-3, 3e-3, 1e-2, 1e0],
                                              metric="val_accuracy")
    final = result.rungs[-1]["scores"]
    assert lr == max(final, key=final.get)  # accuracy: higher is better
    assert len(result.rungs[0]["scores"]) == 5 and len(final) < 5


def test_arguments_are_checked_before_training(data):
    x, y = data
    model = _mlp()
    for kwargs, match in [({"metric": "loss"}, "val_"), ({"keep": 1.0}, "keep"),
                          ({"rungs": 0}, "rungs"), ({"epochs": 0}, "epochs")]:
        arguments = dict(epochs=2)
        arguments.update(kwargs)
        with pytest.raises(ValueError, match=match):
            keras_lr.sweeps.halving_grid(model, x, y, **arguments)


def test_rung_ends_halve_back_from_the_budget():
    from keras_lr.sweeps.halving import _rung_ends

    assert _rung_ends(40, 3) == [10, 20, 40]  # the default: a quarter, a half, all
    assert _rung_ends(80, 4) == [10, 20, 40, 80]
    assert _rung_ends(3, 4) == [1, 2, 3]  # at least one step, strictly increasing
    assert _rung_ends(7, 1) == [7]


def test_the_default_answer_is_the_best_of_separate_fits(data, fresh_session):
    # The reference: one `model.fit` per rate, the whole budget, the best
    # held-out loss at the end. The default 3 rungs score at a quarter and
    # a half of the budget; here the winner survives both.
    x, y = data
    rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    validation = (x[320:], y[320:])
    losses = []
    for rate in rates:
        model = _mlp()
        model.optimizer.learning_rate = rate
        history = model.fit(x[:320], y[:320], epochs=4, batch_size=32, shuffle=False,
                            validation_data=validation, verbose=0)
        losses.append(history.history["val_loss"][-1])
    expected = rates[int(np.nanargmin(losses))]
    lr, result = keras_lr.sweeps.halving_grid(_mlp(), x[:320], y[:320], epochs=4,
                                              learning_rates=rates, batch_size=32,
                                              validation_data=validation, shuffle=False)
    assert lr == expected
    assert [r["step"] for r in result.rungs] == [10, 20, 40]
    assert [len(r["scores"]) for r in result.rungs] == [5, 3, 2]
    np.testing.assert_allclose(result.rungs[-1]["scores"][lr], min(losses), rtol=1e-4)
