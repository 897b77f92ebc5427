"""The learning-rate range test ("LR finder")."""

from keras_lr._core.snapshot import TrainingState
from keras_lr.finder.callback import LRFinder
from keras_lr.finder.range_test import find_lr
from keras_lr.finder.result import LRFinderResult
from keras_lr.finder.suggestions import UnreliableCurveError
from keras_lr.finder.suggestions import minimum
from keras_lr.finder.suggestions import slide
from keras_lr.finder.suggestions import steep
from keras_lr.finder.suggestions import valley
from keras_lr.finder.sweep import LRSweep

__all__ = [
    "LRFinder",
    "LRFinderResult",
    "LRSweep",
    "TrainingState",
    "UnreliableCurveError",
    "find_lr",
    "minimum",
    "slide",
    "steep",
    "valley",
]
