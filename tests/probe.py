"""A model whose weight update measures the learning rate actually applied.

`Dense(1, use_bias=False)` on inputs of ones, trained on the loss
`mean(y_pred)`: the gradient of the kernel is exactly 1, so plain SGD moves
it by `-lr_t` at step `t`. The kernel's trajectory is the sequence of
learning rates the optimizer applied, inside the compiled step.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def mean_prediction(y_true, y_pred):
    # Per-sample values (not a scalar) so that Keras's "sum_over_batch_size"
    # reduction also rescales the loss under a distribution strategy.
    return y_pred + 0.0 * y_true


def probe_model(learning_rate, optimizer_cls=None, **compile_kwargs):
    optimizer_cls = optimizer_cls or keras.optimizers.SGD
    model = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
    ])
    model.compile(
        optimizer=optimizer_cls(learning_rate=learning_rate),
        loss=mean_prediction,
        **compile_kwargs,
    )
    return model


def probe_data(steps, batch_size=4):
    x = np.ones((steps * batch_size, 1), dtype="float32")
    return x, np.zeros_like(x)


def kernel_value(model):
    return float(ops.convert_to_numpy(model.layers[-1].kernel)[0, 0])


class KernelRecorder(keras.callbacks.Callback):
    """Records `(iterations, kernel)` after every batch hook."""

    def __init__(self):
        super().__init__()
        self.records = []

    def on_train_batch_end(self, batch, logs=None):
        iterations = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        self.records.append((iterations, kernel_value(self.model)))


def applied_learning_rates(records, start_kernel=0.0):
    """Per-step learning rates from consecutive kernels (one step per record)."""
    kernels = np.array([start_kernel] + [k for _, k in records])
    return -np.diff(kernels)


@keras.saving.register_keras_serializable(package="keras_lr_tests")
def sqrt_cycle_decay(x):
    """A custom `scale_fn` registered the documented way."""
    return ops.power(x, -0.5)
