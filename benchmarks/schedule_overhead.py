"""Step-time cost of each keras-lr schedule against a constant learning rate.

For every schedule, one compiled MLP (digits data, SGD) is timed over whole
epochs of `model.fit`, in interleaved rounds (the order is shuffled in every
round) in one process, so that machine noise hits every configuration alike.
The ratio is computed inside each round (schedule time / constant time of the
same round) and the median over rounds is printed, with the median time per
step. Target: every ratio <= 1.02.

It also prints the cost of one evaluation of each schedule alone (inside a
`tf.function` loop, TensorFlow backend), the floor of what a schedule can add.

    python benchmarks/schedule_overhead.py [--rounds 21] [--steps 300] [--jit]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import schedules as S  # noqa: E402
from _timing import digits_epoch  # noqa: E402
from _timing import single_threaded_tensorflow  # noqa: E402
from _timing import time_epochs  # noqa: E402

TARGET = 1.02


def make_schedules(total):
    return {
        "constant (float)": 0.01,
        "Triangular": S.TriangularCyclicalLearningRate(1e-3, 1e-2, total // 8),
        "Triangular2": S.Triangular2CyclicalLearningRate(1e-3, 1e-2, total // 8),
        "ExponentialCyclical": S.ExponentialCyclicalLearningRate(
            1e-3, 1e-2, total // 8, gamma=0.999),
        "OneCycle": S.OneCycle(0.01, total),
        "OneCycle three_phase": S.OneCycle(0.01, total, three_phase=True),
        "Warmup(OneCycle)": S.Warmup(S.OneCycle(0.01, total), total // 10),
        "Join(Warmup, OneCycle, Triangular2)": S.Join(
            [S.Warmup(0.01, 50), S.OneCycle(0.01, total),
             S.Triangular2CyclicalLearningRate(1e-4, 1e-3, 50)],
            [50, 50 + total]),
    }


def build(learning_rate, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=300, help="steps per timed epoch")
    parser.add_argument("--jit", action="store_true", help="compile with jit_compile=True")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow intra/inter-op threads (0: TF's default); "
                             "1 keeps the timings of a 2-core machine steady")
    args = parser.parse_args()
    single_threaded_tensorflow(args.threads)
    x, y = digits_epoch(args.steps, args.batch_size)

    configs = make_schedules(args.steps * (args.rounds + 1))
    models = {name: build(lr, True if args.jit else "auto")
              for name, lr in configs.items()}
    times = time_epochs(models, x, y, args.batch_size, args.rounds)

    base = times["constant (float)"]
    evaluation_us = schedule_evaluation_cost(configs)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"jit_compile={bool(args.jit)}, threads={args.threads or 'default'}, "
          f"keras-lr {keras_lr.__version__}; "
          f"{args.rounds} interleaved rounds of {args.steps} steps")
    print(f"{'schedule':40s} {'ms/step':>8s} {'ratio':>7s} {'eval us':>8s}")
    worst = 0.0
    for name, samples in times.items():
        ratio = statistics.median(s / b for s, b in zip(samples, base))
        if name != "constant (float)":
            worst = max(worst, ratio)
        cost = evaluation_us.get(name)
        cost = "" if cost is None else f"{cost:8.1f}"
        print(f"{name:40s} {statistics.median(samples) * 1e3:8.3f} "
              f"{ratio:7.3f} {cost}")
    verdict = "PASS" if worst <= TARGET else "ABOVE TARGET"
    print(f"worst ratio {worst:.3f} (target <= {TARGET}): {verdict}")
    return 0


def schedule_evaluation_cost(configs, evaluations=5000):
    """Microseconds per schedule evaluation inside a compiled TF loop."""
    if keras.backend.backend() != "tensorflow":
        return {}
    import tensorflow as tf

    costs = {}
    for name, schedule in configs.items():
        if not callable(schedule):
            continue

        @tf.function(autograph=False)
        def loop(schedule=schedule):
            return tf.while_loop(
                lambda i, acc: i < evaluations,
                lambda i, acc: (i + 1, acc + schedule(i)),
                (tf.constant(0, tf.int64), tf.constant(0.0)),
            )

        @tf.function(autograph=False)
        def empty_loop():
            return tf.while_loop(
                lambda i, acc: i < evaluations,
                lambda i, acc: (i + 1, acc + 0.01),
                (tf.constant(0, tf.int64), tf.constant(0.0)),
            )

        loop(), empty_loop()
        start = time.perf_counter()
        loop()
        full = time.perf_counter() - start
        start = time.perf_counter()
        empty_loop()
        empty = time.perf_counter() - start
        costs[name] = max(full - empty, 0.0) / evaluations * 1e6
    return costs


if __name__ == "__main__":
    sys.exit(main())
