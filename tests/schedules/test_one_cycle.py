import itertools

import numpy as np
import pytest

from keras_lr.schedules import OneCycle
from keras_lr.schedules import OneCycleMomentum
from tests import references


def _boundary_steps(total_steps, pct_start, three_phase):
    ends = [pct_start * total_steps - 1, total_steps - 1]
    if three_phase:
        ends.insert(1, 2 * pct_start * total_steps - 2)
    steps = {0, 1, 2, total_steps, total_steps + 1, 3 * total_steps}
    for end in ends:
        base = int(np.floor(end))
        steps.update({base - 1, base, base + 1, base + 2})
    steps.update(np.linspace(0, total_steps - 1, 17).astype(int).tolist())
    return sorted(s for s in steps if s >= 0)


CASES = [
    dict(max_learning_rate=0.1, total_steps=1000),
    dict(max_learning_rate=0.1, total_steps=100),  # 0.3 * 100 is not exact in binary
    dict(max_learning_rate=1.0, total_steps=37, pct_start=0.25),
    dict(max_learning_rate=3e-3, total_steps=500, anneal_strategy="linear"),
    dict(max_learning_rate=0.5, total_steps=200, three_phase=True),
    dict(max_learning_rate=0.5, total_steps=201, three_phase=True,
         anneal_strategy="linear", pct_start=0.4),
    dict(max_learning_rate=2.0, total_steps=64, div_factor=10.0, final_div_factor=100.0),
    dict(max_learning_rate=0.01, total_steps=10, pct_start=0.5),
]


@pytest.mark.parametrize("kwargs", CASES)
def test_learning_rate_matches_pytorch(kwargs):
    schedule = OneCycle(**kwargs)
    ref_kwargs = dict(kwargs)
    max_lr = ref_kwargs.pop("max_learning_rate")
    for step in _boundary_steps(
        kwargs["total_steps"], kwargs.get("pct_start", 0.3), kwargs.get("three_phase", False)
    ):
        expected, _ = references.torch_one_cycle(step, max_lr, **ref_kwargs)
        np.testing.assert_allclose(
            float(schedule(step)), expected, rtol=1e-5, err_msg=f"step={step}"
        )


@pytest.mark.parametrize("kwargs", CASES)
def test_momentum_matches_pytorch(kwargs):
    shape = {k: v for k, v in kwargs.items()
             if k in ("total_steps", "pct_start", "anneal_strategy", "three_phase")}
    for base, high in [(0.85, 0.95), (0.8, 0.99)]:
        momentum = OneCycle(**kwargs).momentum_schedule(base, high)
        assert isinstance(momentum, OneCycleMomentum)
        for step in _boundary_steps(
            kwargs["total_steps"], kwargs.get("pct_start", 0.3),
            kwargs.get("three_phase", False),
        ):
            _, expected = references.torch_one_cycle(
                step, 1.0, base_momentum=base, max_momentum=high, **shape
            )
            np.testing.assert_allclose(
                float(momentum(step)), expected, rtol=1e-6, err_msg=f"step={step}"
            )


def test_end_points_and_hold():
    schedule = OneCycle(0.1, total_steps=1000)
    assert float(schedule(0)) == pytest.approx(0.004, rel=1e-6)
    assert float(schedule(299)) == pytest.approx(0.1, rel=1e-6)
    assert float(schedule(999)) == pytest.approx(4e-7, rel=1e-5)
    for step in (1000, 1001, 10**6):
        assert float(schedule(step)) == float(schedule(999))
    assert schedule.initial_learning_rate == pytest.approx(0.004)
    assert schedule.final_learning_rate == pytest.approx(4e-7)


def test_tiny_end_value_keeps_relative_precision():
    # The last steps of a cos anneal sit just above min_lr = 4e-9; a naive
    # float32 `(cos + 1) / 2` loses most digits there.
    schedule = OneCycle(1e-3, total_steps=5000, final_div_factor=1e4)
    for step in (4990, 4995, 4998, 4999):
        expected, _ = references.torch_one_cycle(step, 1e-3, 5000, final_div_factor=1e4)
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_learning_rate=0.0), "max_learning_rate=0.0"),
    (dict(max_learning_rate=-1), "max_learning_rate=-1"),
    (dict(total_steps=0), "total_steps=0"),
    (dict(total_steps=10.5), "total_steps=10.5"),
    (dict(pct_start=0.0), "pct_start=0.0"),
    (dict(pct_start=1.0), "pct_start=1.0"),
    (dict(anneal_strategy="cosine"), "anneal_strategy='cosine'"),
    (dict(div_factor=0), "div_factor=0"),
    (dict(final_div_factor=-1e4), "final_div_factor=-10000.0"),
    (dict(three_phase="yes"), "three_phase='yes'"),
    (dict(total_steps=2), "total_steps=2, pct_start=0.3"),
    (dict(total_steps=10, three_phase=True, pct_start=0.6), "three_phase=True"),
])
def test_bad_arguments(kwargs, match):
    args = dict(max_learning_rate=0.1, total_steps=100)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        OneCycle(**args)


def test_bad_momentum_arguments():
    with pytest.raises(ValueError, match="base_momentum=1.0"):
        OneCycleMomentum(100, base_momentum=1.0)
    with pytest.raises(ValueError, match="max_momentum=0.5"):
        OneCycleMomentum(100, base_momentum=0.9, max_momentum=0.5)


def test_every_step_in_small_cycle():
    for pct, three_phase, strategy in itertools.product(
        (0.25, 0.3, 0.45), (False, True), ("cos", "linear")
    ):
        schedule = OneCycle(0.2, 40, pct_start=pct, three_phase=three_phase,
                            anneal_strategy=strategy)
        for step in range(45):
            expected, _ = references.torch_one_cycle(
                step, 0.2, 40, pct_start=pct, three_phase=three_phase,
                anneal_strategy=strategy,
            )
            np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)
