"""Peers' schedule tests, asked of keras-lr's schedules.

**pytorch-optimizer**, `tests/test_lr_schedulers.py::test_wsd_lr_scheduler`
(kozistr/pytorch_optimizer): the exact learning rates of
`get_wsd_schedule(num_warmup_steps=2, num_stable_steps=2, num_decay_steps=3,
min_lr_ratio=0.1)` at base rate 1e-3, steps 1 to 9, for each cooldown. In
keras-lr's terms that is `WarmupStableDecay(1e-3, total_steps=8,
warmup_steps=2, decay_fraction=3 / 8, final_learning_rate=1e-4)`.

**timm**, `tests/test_scheduler.py` (huggingface/pytorch-image-models,
`TestWarmup`): with `warmup_t=5`, `warmup_lr_init=0.001` and
`warmup_prefix=True`, the rate rises during the warmup and the main schedule
starts at its own step 0 (the base rate 0.1) at step 5, for a cosine, a
step, a multi-step and a polynomial schedule; `get_cycle_length` is the
schedule's length plus the warmup. keras-lr: `Warmup(schedule, 5,
initial_learning_rate=0.001)` (local steps: `warmup_prefix=True`).

Documented differences (docs/schedules/warmup_join.md), strict xfail:
- pytorch-optimizer's `1-sqrt` and `linear` cooldowns decay to 0 and then
  jump to `min_lr_ratio`; keras-lr's decay ends at `final_learning_rate`
  continuously (equal during the decay with a final rate of 0).
- its `1-square` cooldown: keras-lr has no such shape.
- timm's `TanhLRScheduler`: Keras and keras-lr have no tanh schedule.
"""

import keras
import numpy as np
import pytest

from keras_lr import schedules
from keras_lr._core.learning_rate import schedule_end

S = keras.optimizers.schedules

WSD_EXPECTED = {  # steps 1..9
    "cosine": [0.0005, 0.001, 0.001, 0.001, 0.000775, 0.000325, 0.0001, 0.0001, 0.0001],
    "1-sqrt": [0.0005, 0.001, 0.001, 0.001, 0.0004226, 0.0001835, 0.0001, 0.0001, 0.0001],
    "1-square": [0.0005, 0.001, 0.001, 0.001, 0.0008888, 0.0005555, 0.0001, 0.0001, 0.0001],
    "linear": [0.0005, 0.001, 0.001, 0.001, 0.0006666, 0.0003333, 0.0001, 0.0001, 0.0001],
}


def _wsd(shape, final=1e-4):
    return schedules.WarmupStableDecay(1e-3, total_steps=8, warmup_steps=2,
                                       decay_fraction=3 / 8, decay_shape=shape,
                                       final_learning_rate=final)


def _values(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_wsd_cosine_sequence_is_pytorch_optimizers():
    np.testing.assert_allclose(_values(_wsd("cosine"), range(1, 10)), WSD_EXPECTED["cosine"],
                               atol=1.5e-7)  # their decimals=7


@pytest.mark.parametrize("shape", ["1-sqrt", "linear"])
@pytest.mark.xfail(strict=True, reason="documented difference: pytorch-optimizer's "
                   "cooldown decays to 0 then jumps to min_lr_ratio")
def test_wsd_sequence_as_pytorch_optimizer(shape):
    np.testing.assert_allclose(_values(_wsd(shape), range(1, 10)), WSD_EXPECTED[shape],
                               atol=1.5e-7)  # their decimals=7


@pytest.mark.parametrize("shape", ["1-sqrt", "linear"])
def test_wsd_decay_steps_equal_pytorch_optimizers_with_a_final_rate_of_zero(shape):
    # Steps 1..6: the warmup, the stable phase and the decay itself.
    np.testing.assert_allclose(_values(_wsd(shape, final=0.0), range(1, 7)),
                               WSD_EXPECTED[shape][:6], atol=1.5e-7)  # their decimals=7


def test_wsd_has_no_1_square_shape():
    with pytest.raises(ValueError, match="decay_shape"):
        _wsd("1-square")


MAIN = {
    "cosine": lambda: S.CosineDecay(0.1, 100),
    "step": lambda: S.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    "multistep": lambda: S.PiecewiseConstantDecay([9, 19, 29], [0.1, 0.05, 0.025, 0.0125]),
    "poly": lambda: S.PolynomialDecay(0.1, 100, end_learning_rate=0.0),
}


@pytest.mark.parametrize("name", sorted(MAIN))
def test_warmup_rises_from_its_initial_rate(name):
    warmup = schedules.Warmup(MAIN[name](), 5, initial_learning_rate=0.001)
    values = _values(warmup, range(6))
    assert values[0] == pytest.approx(0.001, rel=1e-5)
    assert all(b > a for a, b in zip(values[:5], values[1:]))
    # timm's linear warmup: init + t * (base - init) / warmup_t
    np.testing.assert_allclose(values[:5], [0.001 + t * 0.099 / 5 for t in range(5)],
                               rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MAIN))
def test_warmup_prefix_reaches_the_target_at_the_first_step_after_it(name):
    warmup = schedules.Warmup(MAIN[name](), 5, initial_learning_rate=0.001)
    assert float(warmup(5)) == pytest.approx(0.1, rel=1e-5)


def test_the_cycle_length_includes_the_warmup():
    # timm: get_cycle_length(1) == t_initial + warmup_t with warmup_prefix.
    one_cycle = schedules.OneCycle(0.1, 100)
    assert schedule_end(schedules.Warmup(one_cycle, 10)) == schedule_end(one_cycle) + 10
