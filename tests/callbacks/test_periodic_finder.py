"""`PeriodicLRFinder`: range tests during training, the model restored after
each, the rate moved to the suggestion within bounds."""

import keras
import numpy as np
import pytest

from keras_lr.callbacks import PeriodicLRFinder
from keras_lr.finder import UnreliableCurveError
from tests.digits import digits_mlp
from tests.digits import weights


class _Rates(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        from keras_lr._core.learning_rate import LearningRate

        self.rates = getattr(self, "rates", []) + [LearningRate(self.model.optimizer).current()]


def test_moves_the_rate_to_the_suggestion_within_bounds(digits, fresh_session):
    x, y = digits[0][:640], digits[1][:640]
    finder = PeriodicLRFinder(x[:256], y[:256], every=1, num_steps=30, max_factor=3.0,
                              seed=0, verbose=0)
    rates = _Rates()
    model = digits_mlp(0.002)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[finder, rates])
    assert finder.tests == 3 and len(finder.results) == 3
    for (epoch, result), before, after in zip(finder.results, rates.rates, rates.rates[1:]):
        try:
            factor = np.clip(result.suggestion() / before, 1 / 3.0, 3.0)
        except UnreliableCurveError:
            factor = 1.0  # no reliable suggestion: the rate is left alone
        np.testing.assert_allclose(after, before * factor, rtol=1e-5)
    assert finder.changes >= 1


def test_the_range_test_leaves_training_untouched(digits, fresh_session):
    # With the rate pinned by min_lr == max_lr's neighbourhood, the tests
    # change nothing: the run equals one without the callback.
    x, y = digits[0][:640], digits[1][:640]
    plain = digits_mlp(0.05)
    plain.fit(x, y, epochs=2, batch_size=64, verbose=0, shuffle=False)
    tested = digits_mlp(0.05)
    finder = PeriodicLRFinder(x[:128], y[:128], every=1, num_steps=20, min_lr=0.05,
                              max_lr=0.050000001, seed=0, verbose=0)
    tested.fit(x, y, epochs=2, batch_size=64, verbose=0, shuffle=False, callbacks=[finder])
    assert finder.tests == 2
    for a, b in zip(weights(plain), weights(tested)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(tested.optimizer.iterations.numpy()) == 20  # the sweeps' steps undone


def test_scales_a_schedule_keeping_its_shape(digits, fresh_session):
    x, y = digits[0][:640], digits[1][:640]
    schedule = keras.optimizers.schedules.CosineDecay(0.002, 40)
    model = digits_mlp(schedule)
    finder = PeriodicLRFinder(x[:256], y[:256], every=1, num_steps=30, seed=0, verbose=1)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[finder])
    assert finder.changes >= 1
    controlled = model.optimizer._learning_rate  # noqa: SLF001 (a ControlledSchedule)
    scale = float(controlled.scale.numpy())
    assert scale != 1.0
    for step in (20, 30, 39):
        np.testing.assert_allclose(float(controlled(step)), scale * float(schedule(step)),
                                   rtol=1e-6)


def test_errors(digits):
    x, y = digits
    for kwargs, match in [(dict(every=0), "Argument `every` must be"),
                          (dict(span=(0.1, 0.5)), "low < 1 < high"),
                          (dict(span=3), "must be a pair"),
                          (dict(max_factor=1.0), "Argument `max_factor` must be"),
                          (dict(min_lr=1.0, max_lr=0.5), "must be < `max_lr`"),
                          (dict(num_steps=5), "Argument `num_steps` must be")]:
        with pytest.raises(ValueError, match=match):
            PeriodicLRFinder(x, y, **kwargs)
