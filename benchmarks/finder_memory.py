"""Peak memory of `keras_lr.find_lr` against a plain `fit` on the same arrays.

Each run is a fresh Python process (so every peak starts from the same
baseline: Python, the backend, the data), which builds a 64 MB in-memory
float32 dataset (100,000 x 160), a small MLP, and then either trains it with
`fit` for as many steps as the finder's sweeps take, or runs `find_lr` with
its defaults (3 sweeps of 300 steps) at `batch_size=256`. The peak resident
set size (`ru_maxrss`) of each process is printed, and the ratio of the
medians over interleaved rounds. Target: at most 1.10 (keras-lr 0.1 copied
`num_steps * batch_size` rows per sweep: 3.5 GB against 0.86 GB).

    python benchmarks/finder_memory.py [--rounds 3] [--rows 100000]
"""

import argparse
import statistics
import subprocess
import sys

CHILD = r"""
import os, resource, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, keras, keras_lr
rows, mode = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(rows, 160)).astype("float32")
y = (x[:, :10].argmax(axis=1)).astype("int32")
model = keras.Sequential([keras.Input((160,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
if mode == "fit":
    model.fit(x, y, batch_size=256, epochs=3, steps_per_epoch=300, verbose=0)
else:
    keras_lr.find_lr(model, x, y, batch_size=256, verbose=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # MiB (Linux: KiB)
"""


def peak(mode, rows):
    out = subprocess.run([sys.executable, "-c", CHILD, str(rows), mode], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    peaks = {"fit": [], "find_lr": []}
    for _ in range(args.rounds):
        for mode in ("fit", "find_lr"):  # interleaved
            peaks[mode].append(peak(mode, args.rows))
    data_mb = args.rows * 160 * 4 / 2**20
    fit, finder = statistics.median(peaks["fit"]), statistics.median(peaks["find_lr"])
    print(f"data: {data_mb:.0f} MiB in memory; peak RSS (MiB) per run:")
    for mode, values in peaks.items():
        print(f"  {mode:8s} " + "  ".join(f"{v:7.0f}" for v in values))
    ratio = finder / fit
    verdict = "met" if ratio <= 1.10 else "NOT met"
    print(f"find_lr / fit peak memory: {ratio:.3f} (median of {args.rounds}); "
          f"target <= 1.10: {verdict}")


if __name__ == "__main__":
    main()
