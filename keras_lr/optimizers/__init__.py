"""Optimizer wrappers: per-layer learning rates and scheduled momentum."""

from keras_lr.optimizers.layer_groups import discriminative
from keras_lr.optimizers.layer_groups import layerwise_decay
from keras_lr.optimizers.lr_multiplier import LRMultiplier
from keras_lr.optimizers.scheduled_momentum import ScheduledMomentum

__all__ = [
    "LRMultiplier",
    "ScheduledMomentum",
    "discriminative",
    "layerwise_decay",
]
