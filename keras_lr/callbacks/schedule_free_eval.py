"""`ScheduleFreeEval`: validation, checkpoints and the trained model at the
Schedule-Free average `x`, training at `y`."""

import keras

from keras_lr import _validation
from keras_lr._core import callback_order
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer

__all__ = ["ScheduleFreeEval", "recompute_batchnorm_statistics"]


@keras.saving.register_keras_serializable(package="keras_lr")
class ScheduleFreeEval(keras.callbacks.Callback):
    """Evaluates and saves a Schedule-Free model at its average `x`.

    A Schedule-Free optimizer (`keras_lr.optimizers.ScheduleFreeAdamW`,
    `ScheduleFreeSGD`) takes gradients at `y` but its good point is the
    average `x`. This callback switches the model's variables:

    | when | the model holds |
    |---|---|
    | every training step (from `on_epoch_begin`) | `y` |
    | validation inside `fit`, `evaluate` / `predict` given this callback | `x` |
    | `on_epoch_end`: `ModelCheckpoint`, `BackupAndRestore` listed after it | `x` |
    | after `fit`: `evaluate`, `predict`, `model.save` | `x` |

    The switch back recomputes `y = beta * x + (1 - beta) * z` from the
    optimizer's variables with the update's own formula, so nothing is lost
    and a `BackupAndRestore` resume continues exactly. It must stand before
    `ModelCheckpoint` and `BackupAndRestore` (it says so otherwise).

    **Batch normalization.** The moving statistics of `BatchNormalization`
    layers were gathered at `y`; the reference recommends recomputing them
    at `x` before evaluating. Given `batchnorm_data` (training inputs), each
    switch to `x` runs `batchnorm_batches` forward passes in training mode
    and sets every moving mean and variance to the average of those
    batches' statistics at `x` (`recompute_batchnorm_statistics`); they are
    saved with the model, and training goes on from them at `y` (so a
    `BackupAndRestore` resume still continues exactly). A model with batch
    normalization and no `batchnorm_data` gets a warning at the start of
    `fit`.

    Args:
        batchnorm_data: Optional training inputs for the recomputation: an
            array (or a tuple whose first item is the inputs, e.g. `(x, y)`),
            cut into batches of `batch_size`; or a dataset or iterable of
            batches (`tf.data.Dataset`, `PyDataset`, ...)
            yielding inputs or `(inputs, ...)` tuples.
        batchnorm_batches: Integer >= 1, the most batches used. Defaults
            to `50` (the reference's advice).
        batch_size: Integer >= 1, for array data. Defaults to `32`.

    Raises:
        ValueError: at the start of `fit`, if the model's optimizer is not
            a Schedule-Free optimizer, or the callback stands after a saver;
            for an argument out of range.

    Example:

    ```python
    model.compile(optimizer=keras_lr.optimizers.ScheduleFreeAdamW(), loss="mse")
    model.fit(x, y, validation_data=(xv, yv), epochs=10,
              callbacks=[keras_lr.callbacks.ScheduleFreeEval(),
                         keras.callbacks.ModelCheckpoint("best.keras")])
    model.evaluate(xv, yv)   # at x
    ```
    """

    def __init__(self, batchnorm_data=None, batchnorm_batches=50, batch_size=32):
        super().__init__()
        _check_batchnorm_data(batchnorm_data)
        self.batchnorm_data = batchnorm_data
        self.batchnorm_batches = _validation.require_int(
            "batchnorm_batches", batchnorm_batches, minimum=1)
        self.batch_size = _validation.require_int("batch_size", batch_size, minimum=1)

    def _optimizer(self):
        optimizer = innermost_optimizer(self.model.optimizer)
        if not hasattr(optimizer, "use_evaluation_point"):
            raise ValueError(
                "ScheduleFreeEval needs a Schedule-Free optimizer "
                "(keras_lr.optimizers.ScheduleFreeAdamW or ScheduleFreeSGD). "
                f"Received the optimizer {type(optimizer).__name__}.")
        return optimizer

    def on_train_begin(self, logs=None):
        callback_order.require_before_savers(self)
        self._optimizer().use_training_point(self.model)
        if self.batchnorm_data is None and _batchnorm_layers(self.model):
            keras_private.print_msg(
                "Warning: ScheduleFreeEval: the model has BatchNormalization layers "
                "whose moving statistics were gathered at the training point y; pass "
                "`batchnorm_data=x_train` to recompute them at the evaluation point x.")

    def _to_evaluation_point(self):
        switched = self._optimizer().use_evaluation_point(self.model)
        if switched and self.batchnorm_data is not None:
            recompute_batchnorm_statistics(self.model, self.batchnorm_data,
                                           self.batchnorm_batches, self.batch_size)

    def on_epoch_begin(self, epoch, logs=None):
        self._optimizer().use_training_point(self.model)

    def on_test_begin(self, logs=None):
        self._to_evaluation_point()

    def on_predict_begin(self, logs=None):
        self._to_evaluation_point()

    def on_epoch_end(self, epoch, logs=None):
        self._to_evaluation_point()

    def on_train_end(self, logs=None):
        self._to_evaluation_point()

    def get_config(self):
        # The data is not serialized.
        return {"batchnorm_batches": self.batchnorm_batches, "batch_size": self.batch_size}


def _check_batchnorm_data(data):
    """`None`, inputs with a batch axis (an array, a tensor, a tuple whose
    first item is one), or an iterable of batches; not a scalar or text
    (checked when the callback is made, not at the first evaluation)."""
    if data is None:
        return
    first = data[0] if isinstance(data, tuple) and data else data
    if isinstance(first, (str, bytes, int, float, bool)) or (
            hasattr(first, "shape") and len(getattr(first, "shape", ())) == 0):
        raise ValueError(
            "Argument `batchnorm_data` must be training inputs (an array, or a tuple "
            "`(x, ...)`) or an iterable of batches (a dataset). Received: "
            f"batchnorm_data={data!r}")
    if not hasattr(first, "shape") and not hasattr(first, "__iter__"):
        raise ValueError(
            "Argument `batchnorm_data` must be training inputs (an array, or a tuple "
            "`(x, ...)`) or an iterable of batches (a dataset). Received: "
            f"batchnorm_data of type {type(data).__name__}")


def _batchnorm_layers(model):
    return [layer for layer in keras_private.flatten_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def _input_batches(data, batches, batch_size):
    """At most `batches` input batches of `data` (see `ScheduleFreeEval`)."""
    if isinstance(data, tuple):  # (x, y, ...)
        data = data[0]
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        for start in range(0, min(len(data), batches * batch_size), batch_size):
            yield data[start:start + batch_size]
        return
    for count, batch in enumerate(data):
        if count == batches:
            return
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def recompute_batchnorm_statistics(model, data, batches=50, batch_size=32):
    """Sets the moving statistics of `model`'s `BatchNormalization` layers
    to the average of `batches` batches' statistics at its current weights.

    Each batch runs the model forward in training mode; the moving mean and
    variance of every batch normalization layer become the mean of the
    batches' means and variances (cumulative averaging: the layer's
    `momentum` is `k / (k + 1)` for the `k`-th batch, then restored). Used
    by `ScheduleFreeEval` at the average `x`.

    Args:
        model: A built Keras model.
        data: Inputs: an array (or a tuple `(x, ...)`), or an iterable of
            batches (inputs or `(inputs, ...)` tuples).
        batches: Integer >= 1, the most batches used. Defaults to `50`.
        batch_size: Integer >= 1, for array data. Defaults to `32`.

    Returns:
        The number of batches used.

    Raises:
        ValueError: if `data` gives no batch.
    """
    _validation.require_int("batches", batches, minimum=1)
    _validation.require_int("batch_size", batch_size, minimum=1)
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(_input_batches(data, batches, batch_size), start=1):
            for layer in layers:
                layer.momentum = (count - 1) / count
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if count == 0:
        raise ValueError(
            "Argument `data` must give at least one batch of inputs to recompute the "
            f"batch normalization statistics. Received: data={data!r}")
    return count
