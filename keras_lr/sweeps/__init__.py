"""K learning rates trained in one compiled run: `keras_lr.sweep`."""

from keras_lr.sweeps.halving import halving_grid
from keras_lr.sweeps.result import SweepResult
from keras_lr.sweeps.short_horizon import short_horizon_grid
from keras_lr.sweeps.training import estimate_memory
from keras_lr.sweeps.training import sweep

__all__ = ["SweepResult", "estimate_memory", "halving_grid", "short_horizon_grid", "sweep"]
