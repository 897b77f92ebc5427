"""`ScheduleFreeEval`: validation, checkpoints and the trained model at the
Schedule-Free average `x`, training at `y`."""

import keras

from keras_lr._core import callback_order
from keras_lr._core.learning_rate import innermost_optimizer

__all__ = ["ScheduleFreeEval"]


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

    Raises:
        ValueError: at the start of `fit`, if the model's optimizer is not
            a Schedule-Free optimizer, or the callback stands after a saver.

    Example:

    ```python
    model.compile(optimizer=keras_lr.optimizers.ScheduleFreeAdamW(), loss="mse")
    model.fit(x, y, validation_data=(xv, yv), epochs=10,
              callbacks=[keras_lr.callbacks.ScheduleFreeEval(),
                         keras.callbacks.ModelCheckpoint("best.keras")])
    model.evaluate(xv, yv)   # at x
    ```
    """

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

    def on_epoch_begin(self, epoch, logs=None):
        self._optimizer().use_training_point(self.model)

    def on_test_begin(self, logs=None):
        self._optimizer().use_evaluation_point(self.model)

    def on_predict_begin(self, logs=None):
        self._optimizer().use_evaluation_point(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self._optimizer().use_evaluation_point(self.model)

    def on_train_end(self, logs=None):
        self._optimizer().use_evaluation_point(self.model)

    def get_config(self):
        return {}
