"""Direct comparison with PyTorch's schedulers, when PyTorch is installed.

The always-on tests compare with `tests/references.py`, a transcription of
PyTorch's formulas; this file checks the schedules against PyTorch itself.
"""

import itertools

import numpy as np
import pytest

from keras_lr.schedules import ExponentialCyclicalLearningRate
from keras_lr.schedules import OneCycle
from keras_lr.schedules import Triangular2CyclicalLearningRate
from keras_lr.schedules import TriangularCyclicalLearningRate
from keras_lr.schedules import schedule_values

torch = pytest.importorskip("torch")


def _torch_sequence(make_scheduler, steps):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = make_scheduler(optimizer)
    lrs, momenta = [], []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return np.array(lrs), np.array(momenta)


@pytest.mark.parametrize("total,pct,three_phase,strategy", list(itertools.product(
    (10, 37, 1000), (0.25, 0.3), (False, True), ("cos", "linear"))))
def test_one_cycle_equals_torch(total, pct, three_phase, strategy):
    lrs, momenta = _torch_sequence(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=0.5, total_steps=total, pct_start=pct,
            three_phase=three_phase, anneal_strategy=strategy),
        total,
    )
    schedule = OneCycle(0.5, total, pct_start=pct, three_phase=three_phase,
                        anneal_strategy=strategy)
    np.testing.assert_allclose(schedule_values(schedule, total), lrs, rtol=1e-5)
    np.testing.assert_allclose(
        schedule_values(schedule.momentum_schedule(), total), momenta, rtol=1e-6
    )


@pytest.mark.parametrize("mode,up,down", list(itertools.product(
    ("triangular", "triangular2", "exp_range"), (1, 4), (None, 7))))
def test_cyclic_equals_torch(mode, up, down):
    lrs, _ = _torch_sequence(
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o, 0.01, 0.5, step_size_up=up, step_size_down=down, mode=mode,
            gamma=0.99, cycle_momentum=False),
        120,
    )
    cls = {"triangular": TriangularCyclicalLearningRate,
           "triangular2": Triangular2CyclicalLearningRate,
           "exp_range": ExponentialCyclicalLearningRate}[mode]
    extra = {"gamma": 0.99} if mode == "exp_range" else {}
    schedule = cls(0.01, 0.5, up, step_size_down=down, **extra)
    np.testing.assert_allclose(schedule_values(schedule, 120), lrs, rtol=2e-5)
