"""keras-tuner integration: tune the learning rate on a log scale.

`import keras_lr` does not import keras-tuner; `import keras_lr.tuning`
does (it ships with keras-lr).
"""

from keras_lr.tuning.coarse_to_fine import CoarseToFine
from keras_lr.tuning.coarse_to_fine import CoarseToFineOracle
from keras_lr.tuning.divergence import DivergenceStop
from keras_lr.tuning.hypermodel import LRHyperModel
from keras_lr.tuning.results import best_hyperparameters
from keras_lr.tuning.results import completed_trials
from keras_lr.tuning.results import failed_trials

__all__ = [
    "CoarseToFine",
    "CoarseToFineOracle",
    "DivergenceStop",
    "LRHyperModel",
    "best_hyperparameters",
    "completed_trials",
    "failed_trials",
]
