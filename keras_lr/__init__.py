"""keras-lr: learning-rate tools for Keras 3.

Importing `keras_lr` registers every class for `.keras` serialization, so
import it before `keras.saving.load_model` on a model that uses one.
"""

from keras_lr import schedules
from keras_lr.schedules import plot_schedule

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "plot_schedule",
    "schedules",
]
