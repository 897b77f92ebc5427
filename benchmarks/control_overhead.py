"""Step-time cost of keras-lr's LR control callbacks against none.

One compiled MLP per configuration (digits data, SGD, float LR), timed over
whole epochs of `model.fit` in interleaved, shuffled rounds in one process;
the ratio to the no-callback model is taken inside each round and the median
over rounds is printed, with the median time per step. The callbacks watch
but do not act (patience too large to reduce; no spike for the guard), so the
figure is the cost of watching: an epoch-level check is free, a per-batch
check pays Python and a read of the loss tracker each time.

    python benchmarks/control_overhead.py [--rounds 11] [--steps 200]
"""

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

import keras_lr  # noqa: E402
from _timing import digits_epoch  # noqa: E402
from _timing import single_threaded_tensorflow  # noqa: E402
from _timing import time_epochs  # noqa: E402
from schedule_overhead import build  # noqa: E402

NEVER = 10**9


def make_callbacks():
    C = keras_lr.callbacks
    return {
        "none": [],
        "ReduceLROnPlateau (epoch)": [C.ReduceLROnPlateau(monitor="loss", patience=NEVER)],
        "ReduceLROnPlateau (every 10 batches)": [
            C.ReduceLROnPlateau(monitor="loss", patience=NEVER, frequency=10)],
        "BoldDriver (epoch)": [C.BoldDriver(slow=0.0)],
        "DivergenceGuard (every batch)": [C.DivergenceGuard(verbose=0)],
        "DivergenceGuard (every 10 batches)": [C.DivergenceGuard(frequency=10, verbose=0)],
        "LearningRateLogger (every batch)": [C.LearningRateLogger()],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    single_threaded_tensorflow()
    x, y = digits_epoch(args.steps, args.batch_size)

    configs = make_callbacks()
    models = {name: build(0.01) for name in configs}
    times = time_epochs(models, x, y, args.batch_size, args.rounds, callbacks=configs)

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, keras-lr "
          f"{keras_lr.__version__}; {args.rounds} interleaved rounds of {args.steps} steps")
    print(f"{'callback':40s} {'ms/step':>8s} {'ratio':>7s}")
    for name, samples in times.items():
        ratio = statistics.median(s / b for s, b in zip(samples, times["none"]))
        print(f"{name:40s} {1e3 * statistics.median(samples):8.3f} {ratio:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
