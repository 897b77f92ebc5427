"""What the step-time benchmarks share: the data, the TF set-up, the timing.

Each configuration is its own compiled model; whole epochs of `model.fit` are
timed in interleaved, shuffled rounds in one process, so that slow drifts of
the machine hit every configuration alike.
"""

import random
import time

import keras
import numpy as np


def single_threaded_tensorflow(threads=1):
    """Quiet TensorFlow and pin its thread pools (0: TF's default), which
    keeps the timings of a 2-core machine steady. A no-op on other backends."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def digits_epoch(steps, batch_size, shape=(64,)):
    """scikit-learn's digits, scaled to [0, 1], tiled to `steps` batches."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    n = steps * batch_size
    reps = -(-n // len(x))
    x = (x / 16.0).astype("float32").reshape((-1,) + tuple(shape))
    return np.tile(x, (reps,) + (1,) * len(shape))[:n], np.tile(y, reps)[:n]


def time_epochs(models, x, y, batch_size, rounds, callbacks=None):
    """Seconds per step of one epoch of each model, per round.

    Every model is first fitted once outside the timing (compile, warm-up).
    `callbacks` maps a model's name to its callbacks.

    Returns:
        `{name: [seconds per step in round 0, round 1, ...]}`.
    """
    callbacks = callbacks or {}
    steps = -(-len(x) // batch_size)
    for name, model in models.items():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0,
                  callbacks=callbacks.get(name, []))
    times = {name: [] for name in models}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(models)
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            models[name].fit(x, y, batch_size=batch_size, epochs=1, shuffle=False,
                             verbose=0, callbacks=callbacks.get(name, []))
            times[name].append((time.perf_counter() - start) / steps)
    return times
