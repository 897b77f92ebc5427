"""keras-lr: learning-rate tools for Keras 3.

Importing `keras_lr` registers every class for `.keras` serialization, so
import it before `keras.saving.load_model` on a model that uses one.

The keras-tuner integration is imported on its own, `from keras_lr import
tuning`, so that `import keras_lr` does not import keras-tuner.
"""

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
from keras_lr.finder import LRFinderResult
from keras_lr.finder import find_lr
from keras_lr.schedules import plot_schedule

__version__ = "0.1.0"

__all__ = [
    "LRFinderResult",
    "__version__",
    "callbacks",
    "find_lr",
    "finder",
    "optimizers",
    "plot_schedule",
    "schedules",
]
