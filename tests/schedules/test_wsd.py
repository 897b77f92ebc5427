"""`WarmupStableDecay` against its formula at every boundary."""

import math

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.schedules import WarmupStableDecay


def _formula(step, peak, total, warmup, fraction, shape, initial, final):
    decay = max(1, round(fraction * total))
    start = total - 1 - decay
    if step <= start:
        return initial + (peak - initial) * min(step, warmup) / warmup if warmup else peak
    p = min((step - start) / decay, 1.0)
    if shape == "linear":
        return final + (peak - final) * (1 - p)
    if shape == "cosine":
        return final + (peak - final) * (1 + math.cos(math.pi * p)) / 2
    if shape == "1-sqrt":
        return final + (peak - final) * (1 - math.sqrt(p))
    return peak * (final / peak) ** p


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt", "exponential"])
@pytest.mark.parametrize("total,warmup,fraction", [(100, 10, 0.2), (37, 0, 0.5), (12, 3, 0.1),
                                                   (50, 20, 0.58)])
def test_formula_at_every_step(shape, total, warmup, fraction):
    final = 1e-4 if shape == "exponential" else 2e-4
    schedule = WarmupStableDecay(0.01, total, warmup_steps=warmup, decay_fraction=fraction,
                                 decay_shape=shape, initial_learning_rate=1e-3,
                                 final_learning_rate=final)
    steps = np.arange(total + 5)
    got = keras_lr.schedules.schedule_values(schedule, len(steps))
    expected = [_formula(s, 0.01, total, warmup, fraction, shape, 1e-3 if warmup else 0.0, final)
                for s in steps]
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-9)
    # The boundaries: peak at the end of the warmup and at the decay's start,
    # the final value at the last step and after.
    start = schedule.decay_start
    np.testing.assert_allclose(float(schedule(warmup)), 0.01, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(start)), 0.01, rtol=1e-6)
    assert float(schedule(start + 1)) < 0.01
    np.testing.assert_allclose(float(schedule(total - 1)), final, rtol=1e-5)
    np.testing.assert_allclose(float(schedule(10 * total)), final, rtol=1e-5)


def test_saves_and_resumes(fresh_session, tmp_path):
    schedule = WarmupStableDecay(0.05, epochs=3, steps_per_epoch=5, warmup_steps=2)
    assert schedule.total_steps == 15
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    x, y = np.ones((20, 2)), np.ones((20, 1))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    restored = loaded.optimizer.learning_rate
    assert isinstance(loaded.optimizer._learning_rate, WarmupStableDecay)  # noqa: SLF001
    assert loaded.optimizer._learning_rate.get_config() == schedule.get_config()  # noqa: SLF001
    np.testing.assert_allclose(float(restored), float(schedule(10)), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="Argument `peak_learning_rate` must be > 0"):
        WarmupStableDecay(0.0, 100)
    with pytest.raises(ValueError, match="leave no room"):
        WarmupStableDecay(0.1, 10, warmup_steps=8, decay_fraction=0.2)
    with pytest.raises(ValueError, match="Argument `decay_shape` must be one of"):
        WarmupStableDecay(0.1, 100, decay_shape="sqrt")
    with pytest.raises(ValueError, match="must be > 0 when decay_shape='exponential'"):
        WarmupStableDecay(0.1, 100, decay_shape="exponential")
    with pytest.raises(ValueError, match="must be < `peak_learning_rate`"):
        WarmupStableDecay(0.1, 100, final_learning_rate=0.2)
    with pytest.raises(ValueError, match="Argument `decay_fraction` must be"):
        WarmupStableDecay(0.1, 100, decay_fraction=0.0)
