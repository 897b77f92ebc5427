"""Optimizer wrappers (per-layer learning rates, scheduled momentum,
hypergradient descent on the learning rate) and learning-rate-free
optimizers (Prodigy, D-Adaptation Adam, DoG, DoWG, Mechanic, Schedule-Free
AdamW and SGD)."""

from keras_lr.optimizers.dadapt_adam import DAdaptAdam
from keras_lr.optimizers.dog import DoG
from keras_lr.optimizers.dowg import DoWG
from keras_lr.optimizers.hypergradient import Hypergradient
from keras_lr.optimizers.layer_groups import discriminative
from keras_lr.optimizers.layer_groups import layerwise_decay
from keras_lr.optimizers.lr_multiplier import LRMultiplier
from keras_lr.optimizers.mechanic import Mechanic
from keras_lr.optimizers.prodigy import Prodigy
from keras_lr.optimizers.schedule_free import ScheduleFreeAdamW
from keras_lr.optimizers.schedule_free import ScheduleFreeSGD
from keras_lr.optimizers.scheduled_momentum import ScheduledMomentum

__all__ = [
    "DAdaptAdam",
    "DoG",
    "DoWG",
    "Hypergradient",
    "LRMultiplier",
    "Mechanic",
    "Prodigy",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "ScheduledMomentum",
    "discriminative",
    "layerwise_decay",
]
