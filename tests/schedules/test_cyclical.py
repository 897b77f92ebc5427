import math

import keras
import numpy as np
import pytest

from keras_lr.schedules import CyclicalLearningRate
from keras_lr.schedules import ExponentialCyclicalLearningRate
from keras_lr.schedules import Triangular2CyclicalLearningRate
from keras_lr.schedules import TriangularCyclicalLearningRate
from tests import references


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def cube_root_decay(x):
    return keras.ops.power(x, -1.0 / 3.0)


def _steps(step_size, step_size_down=None):
    """Step 0, every phase boundary and its neighbours, far past the end."""
    down = step_size if step_size_down is None else step_size_down
    total = step_size + down
    steps = {0, 1, 5 * total + 3, 100 * total + 1}
    for cycle in range(4):
        for boundary in (cycle * total, cycle * total + step_size):
            steps.update({boundary - 1, boundary, boundary + 1})
    return sorted(s for s in steps if s >= 0)


TFA_CASES = [
    # (class, kwargs, tfa scale_fn, tfa scale_mode)
    (TriangularCyclicalLearningRate, dict(step_size=4), lambda x: 1.0, "cycle"),
    (TriangularCyclicalLearningRate, dict(step_size=7, scale_mode="iterations"),
     lambda x: 1.0, "iterations"),
    (Triangular2CyclicalLearningRate, dict(step_size=5),
     lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
    (Triangular2CyclicalLearningRate, dict(step_size=3, scale_mode="iterations"),
     lambda x: 1 / (2.0 ** (x - 1)), "iterations"),
    (ExponentialCyclicalLearningRate, dict(step_size=6, gamma=0.97),
     lambda x: 0.97 ** x, "iterations"),
    (ExponentialCyclicalLearningRate, dict(step_size=6, gamma=0.8, scale_mode="cycle"),
     lambda x: 0.8 ** x, "cycle"),
    (ExponentialCyclicalLearningRate, dict(step_size=10), lambda x: 1.0, "iterations"),
]


@pytest.mark.parametrize("cls,kwargs,scale_fn,scale_mode", TFA_CASES)
def test_matches_tensorflow_addons(cls, kwargs, scale_fn, scale_mode):
    schedule = cls(initial_learning_rate=1e-3, maximal_learning_rate=0.1, **kwargs)
    for step in _steps(kwargs["step_size"]):
        expected = references.tfa_cyclical(
            step, 1e-3, 0.1, kwargs["step_size"], scale_fn, scale_mode
        )
        np.testing.assert_allclose(
            float(schedule(step)), expected, rtol=2e-5, atol=1e-9,
            err_msg=f"step={step}",
        )


@pytest.mark.parametrize("mode,cls,extra", [
    ("triangular", TriangularCyclicalLearningRate, {}),
    ("triangular2", Triangular2CyclicalLearningRate, {}),
    ("exp_range", ExponentialCyclicalLearningRate, {"gamma": 0.99}),
])
@pytest.mark.parametrize("up,down", [(4, 4), (3, 9), (10, 2), (1, 1), (1, 5)])
def test_matches_pytorch_cyclic_lr(mode, cls, extra, up, down):
    schedule = cls(0.01, 0.5, step_size=up, step_size_down=down, **extra)
    for step in _steps(up, down):
        expected = references.torch_cyclic(
            step, 0.01, 0.5, up, down, mode=mode, gamma=extra.get("gamma", 1.0)
        )
        np.testing.assert_allclose(
            float(schedule(step)), expected, rtol=2e-5, atol=1e-9,
            err_msg=f"step={step}",
        )


def test_custom_scale_fn_matches_reference():
    schedule = CyclicalLearningRate(
        0.0, 1.0, step_size=4, scale_fn=cube_root_decay, scale_mode="cycle"
    )
    for step in _steps(4):
        expected = references.tfa_cyclical(
            step, 0.0, 1.0, 4, lambda c: c ** (-1 / 3), "cycle"
        )
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=2e-5, atol=1e-9)


def test_hand_computed_triangle():
    schedule = TriangularCyclicalLearningRate(1.0, 3.0, step_size=2)
    values = [float(schedule(s)) for s in range(6)]
    assert values == [1.0, 2.0, 3.0, 2.0, 1.0, 2.0]


def test_fractional_step_size_like_tfa():
    schedule = TriangularCyclicalLearningRate(0.0, 1.0, step_size=2.5)
    for step in range(12):
        expected = references.tfa_cyclical(step, 0.0, 1.0, 2.5, lambda x: 1.0, "cycle")
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5, atol=1e-7)


def test_tfa_positional_signature():
    # tensorflow-addons users pass (initial, maximal, step_size, scale_fn, scale_mode, name).
    schedule = CyclicalLearningRate(1e-4, 1e-2, 2000, cube_root_decay, "iterations", "mine")
    assert schedule.scale_mode == "iterations" and schedule.name == "mine"
    exp = ExponentialCyclicalLearningRate(1e-4, 1e-2, 2000, "cycle", 0.5)
    assert exp.scale_mode == "cycle" and exp.gamma == 0.5
    assert TriangularCyclicalLearningRate(1e-4, 1e-2, 2000).name == (
        "TriangularCyclicalLearningRate"
    )


def test_tfa_config_keys():
    config = Triangular2CyclicalLearningRate(1e-4, 1e-2, 8).get_config()
    assert set(config) == {
        "initial_learning_rate", "maximal_learning_rate", "step_size",
        "scale_mode", "name",
    }
    config = ExponentialCyclicalLearningRate(1e-4, 1e-2, 8, gamma=0.9,
                                             step_size_down=2).get_config()
    assert config["gamma"] == 0.9 and config["step_size_down"] == 2.0


def test_lambda_scale_fn_raises_clear_error_on_get_config():
    with pytest.warns(UserWarning, match="lambda"):
        schedule = CyclicalLearningRate(1e-4, 1e-2, 10, scale_fn=lambda x: 1.0)
    assert math.isclose(float(schedule(10)), 1e-2, rel_tol=1e-6)
    with pytest.raises(ValueError, match="scale_fn.*lambda.*register_keras_serializable"):
        schedule.get_config()


def test_unregistered_function_scale_fn_raises():
    def local_scale(x):
        return keras.ops.ones_like(x)

    with pytest.warns(UserWarning, match="cannot be saved"):
        schedule = CyclicalLearningRate(1e-4, 1e-2, 10, scale_fn=local_scale)
    with pytest.raises(ValueError, match="cannot be deserialized"):
        schedule.get_config()


def test_registered_scale_fn_round_trips():
    schedule = CyclicalLearningRate(1e-4, 1e-2, 10, scale_fn=cube_root_decay)
    restored = CyclicalLearningRate.from_config(schedule.get_config())
    assert restored.scale_fn is cube_root_decay
    for step in (0, 7, 13, 40):
        assert float(restored(step)) == float(schedule(step))


@pytest.mark.parametrize("kwargs,match", [
    (dict(initial_learning_rate=-1.0), "initial_learning_rate=-1.0"),
    (dict(maximal_learning_rate=float("nan")), "maximal_learning_rate=nan"),
    (dict(step_size=0), "step_size=0"),
    (dict(step_size=-3), "step_size=-3"),
    (dict(step_size="10"), "step_size='10'"),
    (dict(scale_mode="epoch"), "scale_mode='epoch'"),
    (dict(step_size_down=0), "step_size_down=0"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    args = dict(initial_learning_rate=1e-3, maximal_learning_rate=1e-2, step_size=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TriangularCyclicalLearningRate(**args)


def test_bad_gamma_and_scale_fn():
    with pytest.raises(ValueError, match="gamma=0"):
        ExponentialCyclicalLearningRate(1e-3, 1e-2, 4, gamma=0)
    with pytest.raises(TypeError, match="scale_fn"):
        CyclicalLearningRate(1e-3, 1e-2, 4, scale_fn=2.0)


def test_unknown_keyword_raises_type_error():
    with pytest.raises(TypeError):
        TriangularCyclicalLearningRate(1e-3, 1e-2, 4, stepsize_down=3)
