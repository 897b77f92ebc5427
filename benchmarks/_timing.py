"""What the step-time benchmarks share: the data, the TF set-up, the timing.

Each configuration is its own compiled model, timed in interleaved, shuffled
rounds in one process, so that slow drifts of the machine hit every
configuration alike: whole epochs of `model.fit` (`time_epochs`, any
backend), or short runs of the compiled train step alone (`time_steps`,
TensorFlow), whose many short rounds resolve a 1% difference on a noisy
machine.
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

    def epoch(name):
        models[name].fit(x, y, batch_size=batch_size, epochs=1, shuffle=False,
                         verbose=0, callbacks=callbacks.get(name, []))

    return _interleaved(list(models), epoch, steps, rounds)


def time_steps(models, batches, chunk, rounds):
    """Seconds per compiled train step of each model, per round (TensorFlow).

    Each model's `train_step` is compiled with `tf.function` (with the
    model's `jit_compile`), as `fit` compiles it, and warmed up on `batches`
    (a list of `(x, y)` tensors); then in every round each model, in a
    shuffled order, runs `chunk` steps over `batches`. Without `fit`'s
    per-step Python loop the ratio measures the compiled step itself (the
    strictest denominator).

    Returns:
        `{name: [seconds per step in round 0, round 1, ...]}`.
    """
    import tensorflow as tf

    steps = {}
    for name, model in models.items():
        step = tf.function(model.train_step, jit_compile=bool(model.jit_compile))
        for batch in batches:
            step(batch)
        steps[name] = step

    def run(name):
        for i in range(chunk):
            steps[name](batches[i % len(batches)])

    return _interleaved(list(models), run, chunk, rounds)


def _interleaved(names, run, steps, rounds):
    """Times `run(name)` (`steps` training steps) for every name, in a
    shuffled order each round. Returns `{name: [seconds per step, ...]}`."""
    times = {name: [] for name in names}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            run(name)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def median_ratio(samples, baseline):
    """The median over rounds of `samples / baseline` (same round), and its
    standard error from the interquartile range (normal approximation)."""
    ratios = np.asarray(samples) / np.asarray(baseline)
    q1, q3 = np.percentile(ratios, [25, 75])
    error = 1.2533 * (q3 - q1) / 1.349 / np.sqrt(len(ratios))
    return float(np.median(ratios)), float(error)
