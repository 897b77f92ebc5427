"""Learning-rate schedules: pure functions of the step, in `keras.ops`."""

from keras_lr._core.learning_rate import ControlledSchedule
from keras_lr.schedules.cyclical import CyclicalLearningRate
from keras_lr.schedules.cyclical import ExponentialCyclicalLearningRate
from keras_lr.schedules.cyclical import Triangular2CyclicalLearningRate
from keras_lr.schedules.cyclical import TriangularCyclicalLearningRate
from keras_lr.schedules.join import Join
from keras_lr.schedules.one_cycle import OneCycle
from keras_lr.schedules.one_cycle import OneCycleMomentum
from keras_lr.schedules.plotting import plot_schedule
from keras_lr.schedules.plotting import schedule_values
from keras_lr.schedules.warmup import Warmup
from keras_lr.schedules.wsd import WarmupStableDecay

__all__ = [
    "ControlledSchedule",
    "CyclicalLearningRate",
    "ExponentialCyclicalLearningRate",
    "Join",
    "OneCycle",
    "OneCycleMomentum",
    "Triangular2CyclicalLearningRate",
    "TriangularCyclicalLearningRate",
    "Warmup",
    "WarmupStableDecay",
    "plot_schedule",
    "schedule_values",
]
