"""Schedules show their arguments: `repr` is built from `get_config()`, and
for these the repr is Python that builds the same schedule again."""

import numpy as np
import pytest

from keras_lr import schedules as S

CASES = [
    S.OneCycle(0.01, 450),
    S.OneCycle(0.01, 450, pct_start=0.25, anneal_strategy="linear", three_phase=True),
    S.TriangularCyclicalLearningRate(1e-4, 1e-2, 100),
    S.Triangular2CyclicalLearningRate(1e-4, 1e-2, 100),
    S.ExponentialCyclicalLearningRate(1e-4, 1e-2, 100, gamma=0.99),
    S.WarmupStableDecay(0.1, total_steps=1000, warmup_steps=100, decay_fraction=0.3),
    S.Warmup(S.OneCycle(0.01, 450), warmup_steps=10),
    S.Join([S.OneCycle(0.01, 10), 0.001], [10]),
]


@pytest.mark.parametrize("schedule", CASES, ids=lambda s: type(s).__name__)
def test_repr_shows_the_arguments_and_rebuilds(schedule):
    text = repr(schedule)
    assert text.startswith(type(schedule).__name__ + "(") and " object at 0x" not in text
    rebuilt = eval(text, {name: getattr(S, name) for name in S.__all__})  # noqa: S307
    steps = np.array([0, 1, 5, 9, 10, 11, 50, 99, 100, 449, 900])
    np.testing.assert_allclose([float(rebuilt(s)) for s in steps],
                               [float(schedule(s)) for s in steps], rtol=1e-5)
