"""Optimizer wrappers: per-layer learning rates, scheduled momentum, and
hypergradient descent on the learning rate."""

from keras_lr.optimizers.hypergradient import Hypergradient
from keras_lr.optimizers.layer_groups import discriminative
from keras_lr.optimizers.layer_groups import layerwise_decay
from keras_lr.optimizers.lr_multiplier import LRMultiplier
from keras_lr.optimizers.scheduled_momentum import ScheduledMomentum

__all__ = [
    "Hypergradient",
    "LRMultiplier",
    "ScheduledMomentum",
    "discriminative",
    "layerwise_decay",
]
