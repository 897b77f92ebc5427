"""Keras callbacks of keras-lr."""

from keras_lr.callbacks.bold_driver import BoldDriver
from keras_lr.callbacks.divergence_guard import DivergenceGuard
from keras_lr.finder.callback import LRFinder  # lives with the finder
from keras_lr.callbacks.lr_logger import LearningRateLogger
from keras_lr.callbacks.periodic_finder import PeriodicLRFinder
from keras_lr.callbacks.plateau import ReduceLROnPlateau
from keras_lr.callbacks.schedule_free_eval import ScheduleFreeEval

__all__ = [
    "BoldDriver",
    "DivergenceGuard",
    "LRFinder",
    "LearningRateLogger",
    "PeriodicLRFinder",
    "ReduceLROnPlateau",
    "ScheduleFreeEval",
]
