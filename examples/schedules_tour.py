"""A tour of keras-lr's schedules on the digits data, offline.

Trains the same MLP with a constant learning rate and with each schedule
family (triangular2 cyclical, one-cycle, warmup + Keras's cosine decay, and a
joined schedule), prints the validation accuracy of each, then shows that a
model saved mid-training resumes its schedule exactly where it stopped.

    python examples/schedules_tour.py [--epochs 6] [--output-dir examples/output]
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import keras_lr  # noqa: E402
from _data import digits  # noqa: E402

S = keras_lr.schedules


def schedules(total_steps, steps_per_epoch):
    return {
        "constant 0.01": 0.01,
        "Triangular2CyclicalLearningRate": S.Triangular2CyclicalLearningRate(
            1e-3, 0.05, step_size=steps_per_epoch),
        "OneCycle": S.OneCycle(0.05, total_steps),
        "Warmup(CosineDecay)": S.Warmup(
            keras.optimizers.schedules.CosineDecay(0.05, total_steps - steps_per_epoch),
            warmup_steps=steps_per_epoch),
        "Join(OneCycle, Triangular)": S.Join(
            [S.OneCycle(0.05, total_steps // 2),
             S.TriangularCyclicalLearningRate(1e-3, 1e-2, step_size=steps_per_epoch // 2)],
            boundaries=[total_steps // 2]),
    }


def build(learning_rate):
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output-dir", default=os.path.join("examples", "output"))
    args = parser.parse_args()

    (x, y), (x_val, y_val) = digits()
    steps_per_epoch = -(-len(x) // args.batch_size)
    total = args.epochs * steps_per_epoch

    fig, ax = plt.subplots(figsize=(7, 4))
    print(f"{'schedule':34s} val accuracy")
    for name, lr in schedules(total, steps_per_epoch).items():
        keras.utils.set_random_seed(0)
        model = build(lr)
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        _, accuracy = model.evaluate(x_val, y_val, verbose=0)
        print(f"{name:34s} {accuracy:.4f}")
        ax.plot(S.schedule_values(lr, total), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize=8)
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "schedules_tour.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"schedules plot: {path}")

    # Resume: save halfway, load (as a fresh process would), continue.
    schedule = S.OneCycle(0.05, total)
    keras.utils.set_random_seed(0)
    model = build(schedule)
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs // 2, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "half.keras"))
        restored = keras.saving.load_model(os.path.join(tmp, "half.keras"))
    step = int(keras.ops.convert_to_numpy(restored.optimizer.iterations))
    print(f"restored at step {step}: learning rate "
          f"{float(keras.ops.convert_to_numpy(restored.optimizer.learning_rate)):.5f} "
          f"= OneCycle(step {step}) {float(schedule(step)):.5f}")
    restored.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                 initial_epoch=args.epochs // 2, verbose=0)
    _, accuracy = restored.evaluate(x_val, y_val, verbose=0)
    print(f"resumed OneCycle run: val accuracy {accuracy:.4f}, "
          f"final step {int(keras.ops.convert_to_numpy(restored.optimizer.iterations))} "
          f"of {total}")
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(restored.optimizer.learning_rate)),
        float(schedule(total)), rtol=1e-5)


if __name__ == "__main__":
    main()
