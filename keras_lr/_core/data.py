"""How many optimizer steps an epoch of `fit` runs: one owner for the count.

`fit_one_cycle`, `fine_tune`, `LRHyperModel` and the warnings about a
schedule that ends before `fit` does all size schedules from it, with
Keras's own validation split and data adapter, so that they agree with
`fit` (and with each other) to the step.
"""

import keras

from keras_lr import _validation
from keras_lr._core import keras_private

__all__ = ["steps_per_epoch_of"]


def steps_per_epoch_of(x, y=None, *, batch_size=None, steps_per_epoch=None,
                       validation_split=0.0, sample_weight=None):
    """The number of optimizer steps one epoch of `model.fit` runs.

    Computed as `fit` computes it (Keras's own validation split and data
    adapter): `ceil(n_train / batch_size)` for arrays, where `n_train` is
    what `validation_split` leaves; `len(dataset)` for a `PyDataset`; the
    cardinality of a `tf.data.Dataset`; `steps_per_epoch` when given.

    Args:
        x: Training data, as for `model.fit`.
        y: Targets, with array `x`.
        batch_size: As for `model.fit` (Keras's default: 32).
        steps_per_epoch: As for `model.fit`.
        validation_split: As for `model.fit`.
        sample_weight: As for `model.fit`.

    Returns:
        An integer >= 1.

    Raises:
        ValueError: when the number cannot be known (a generator, or a
            dataset of unknown or infinite cardinality) and
            `steps_per_epoch` is not given, or the data has no batch.
    """
    if steps_per_epoch is not None:
        return _validation.require_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if batch_size is not None:
        _validation.require_int("batch_size", batch_size, minimum=1)
    _validation.require_number("validation_split", validation_split, minimum=0,
                               maximum=1, max_inclusive=False)
    unknown = ValueError(
        "Cannot tell how many steps an epoch has: argument `x` is a generator, or a "
        "dataset of unknown or infinite cardinality. Pass `steps_per_epoch`.")
    if x is None:
        raise ValueError("Argument `x` is required: the training data, as for `fit`.")
    if _is_generator(x):
        raise unknown
    steps = keras_private.epoch_batches(
        x, y, sample_weight, batch_size=batch_size, validation_split=validation_split)
    if steps is None or steps < 0:
        raise unknown
    if steps == 0:
        raise ValueError("The training data has no batch: an epoch would run no step.")
    return int(steps)


def _is_generator(x):
    if isinstance(x, keras.utils.PyDataset) or hasattr(x, "__array__"):
        return False
    if isinstance(x, (list, tuple, dict)):
        return False
    if type(x).__module__.startswith(("tensorflow", "torch")):
        return False  # tf.data / torch DataLoader: the adapter sizes them
    return hasattr(x, "__next__") or hasattr(x, "__iter__") and not hasattr(x, "__len__")
