"""keras-lr: learning-rate tools for Keras 3.

Importing `keras_lr` registers every class for `.keras` serialization, so
import it before `keras.saving.load_model` on a model that uses one.

`keras_lr.tuning` (the keras-tuner integration) is imported the first time
it is used, so that `import keras_lr` does not import keras-tuner.
"""

import importlib

try:
    import keras  # noqa: F401
except ModuleNotFoundError as e:  # Keras is installed but its backend is not.
    raise ImportError(
        f"keras-lr could not import Keras: {e}. Install a backend with "
        "`pip install 'keras-lr[cpu]'` (TensorFlow, CPU build), "
        "`pip install 'keras-lr[gpu]'` (TensorFlow with CUDA) or "
        "`pip install 'keras-lr[jax]'` and set KERAS_BACKEND=jax."
    ) from e

from keras_lr import callbacks
from keras_lr import finder
from keras_lr import optimizers
from keras_lr import schedules
from keras_lr import sweeps
from keras_lr import workflows
from keras_lr.finder import LRFinderResult
from keras_lr.finder import find_lr
from keras_lr.schedules import plot_schedule
from keras_lr.sweeps import sweep
from keras_lr.workflows import fine_tune
from keras_lr.workflows import fit_one_cycle

__version__ = "0.1.0"

__all__ = [
    "LRFinderResult",
    "__version__",
    "callbacks",
    "find_lr",
    "finder",
    "fine_tune",
    "fit_one_cycle",
    "optimizers",
    "plot_schedule",
    "schedules",
    "sweep",
    "sweeps",
    "workflows",
]


def __getattr__(name):
    # `keras_lr.tuning` on first use: it imports keras-tuner.
    if name == "tuning":
        return importlib.import_module("keras_lr.tuning")
    raise AttributeError(f"module 'keras_lr' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"tuning"})
