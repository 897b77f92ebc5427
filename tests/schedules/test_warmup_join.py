import itertools

import keras
import numpy as np
import pytest

from keras_lr.schedules import Join
from keras_lr.schedules import OneCycle
from keras_lr.schedules import TriangularCyclicalLearningRate
from keras_lr.schedules import Warmup
from keras_lr.schedules import schedule_values
from tests import references


def _one_cycle_ref(step):
    return references.torch_one_cycle(step, 0.1, 50)[0]


def _cosine_decay_ref(step):
    # keras.optimizers.schedules.CosineDecay(0.2, decay_steps=40, alpha=0.1)
    p = min(step, 40) / 40
    return 0.2 * ((1 - 0.1) * 0.5 * (1 + np.cos(np.pi * p)) + 0.1)


INNER = {
    "one_cycle": (lambda: OneCycle(0.1, 50), _one_cycle_ref),
    "keras_cosine": (
        lambda: keras.optimizers.schedules.CosineDecay(0.2, 40, alpha=0.1),
        _cosine_decay_ref,
    ),
    "constant": (lambda: 0.05, lambda step: 0.05),
}


@pytest.mark.parametrize("inner,shape,local_step,initial", [
    (i, s, loc, init) for i, s, loc, init in itertools.product(
        INNER, ("linear", "cosine", "exponential"), (True, False), (0.0, 1e-4))
    if not (s == "exponential" and init == 0.0)
])
def test_warmup_matches_reference(inner, shape, local_step, initial):
    make, ref = INNER[inner]
    schedule = Warmup(make(), warmup_steps=10, initial_learning_rate=initial,
                      shape=shape, local_step=local_step)
    for step in [0, 1, 5, 8, 9, 10, 11, 12, 30, 59, 60, 61, 200]:
        expected = references.warmup(step, ref, 10, initial, shape, local_step)
        np.testing.assert_allclose(
            float(schedule(step)), expected, rtol=1e-5, atol=1e-9,
            err_msg=f"step={step}",
        )


@pytest.mark.parametrize("shape", ["linear", "cosine", "exponential"])
def test_warmup_is_continuous_at_the_boundary(shape):
    inner = OneCycle(0.1, 1000)
    schedule = Warmup(inner, warmup_steps=1000, initial_learning_rate=1e-6, shape=shape)
    values = schedule_values(schedule, 1001)
    assert values[1000] == pytest.approx(float(inner(0)), rel=1e-6)
    # No jump: the step onto the wrapped schedule is no larger than the
    # largest step inside the ramp (times the geometric ramp's per-step
    # ratio, (4e-3 / 1e-6) ** (1 / 1000) < 1.01, for the exponential shape).
    largest_ramp_step = np.max(np.abs(np.diff(values[:1000])))
    assert abs(values[1000] - values[999]) <= largest_ramp_step * 1.01


def test_warmup_starts_at_initial_and_default_is_local():
    schedule = Warmup(OneCycle(0.1, 100), warmup_steps=20, initial_learning_rate=1e-5)
    assert float(schedule(0)) == pytest.approx(1e-5)
    assert float(schedule(20)) == pytest.approx(float(OneCycle(0.1, 100)(0)))
    assert schedule.local_step is True


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(warmup_steps=0), ValueError, "warmup_steps=0"),
    (dict(warmup_steps=2.5), ValueError, "warmup_steps=2.5"),
    (dict(initial_learning_rate=-0.1), ValueError, "initial_learning_rate=-0.1"),
    (dict(shape="quadratic"), ValueError, "shape='quadratic'"),
    (dict(shape="exponential"), ValueError, "initial_learning_rate=0.0"),
    (dict(local_step="yes"), ValueError, "local_step='yes'"),
    (dict(schedule="0.1"), TypeError, "schedule='0.1'"),
    (dict(schedule=-1.0), ValueError, "schedule=-1.0"),
])
def test_warmup_bad_arguments(kwargs, error, match):
    args = dict(schedule=0.1, warmup_steps=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        Warmup(**args)


def test_join_matches_reference_at_boundaries():
    pieces = [OneCycle(0.1, 50), 0.01, TriangularCyclicalLearningRate(1e-3, 1e-2, 5)]
    refs = [
        _one_cycle_ref,
        lambda s: 0.01,
        lambda s: references.tfa_cyclical(s, 1e-3, 1e-2, 5, lambda x: 1.0, "cycle"),
    ]
    schedule = Join(pieces, boundaries=[50, 80])
    for step in [0, 1, 48, 49, 50, 51, 79, 80, 81, 85, 90, 1000]:
        expected = references.join(step, refs, [50, 80])
        np.testing.assert_allclose(
            float(schedule(step)), expected, rtol=1e-5, err_msg=f"step={step}"
        )


def test_join_vectorized_equals_scalar():
    schedule = Join([Warmup(0.1, 5), OneCycle(0.1, 20)], [5])
    vector = schedule_values(schedule, 30)
    scalar = [float(schedule(s)) for s in range(30)]
    np.testing.assert_allclose(vector, scalar, rtol=1e-6)


@pytest.mark.parametrize("schedules,boundaries,error,match", [
    ([0.1], [], ValueError, "at least 2"),
    ([0.1, 0.2], [], ValueError, "len\\(schedules\\) - 1 = 1"),
    ([0.1, 0.2], [5, 6], ValueError, "2 entries"),
    ([0.1, 0.2, 0.3], [5, 5], ValueError, "strictly increasing"),
    ([0.1, 0.2], [0], ValueError, "strictly increasing"),
    ([0.1, 0.2], [2.5], ValueError, "boundaries\\[0\\]=2.5"),
    ([0.1, "fast"], [3], TypeError, "schedules\\[1\\]='fast'"),
    ((0.1, 0.2), 3, ValueError, "boundaries=3"),
])
def test_join_bad_arguments(schedules, boundaries, error, match):
    with pytest.raises(error, match=match):
        Join(schedules, boundaries)
