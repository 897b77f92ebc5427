"""Generates the pictures of the documentation from the real code.

    python docs/make_figures.py        # writes docs/img/*.png

CI runs it before `mkdocs build --strict`, so every figure on the site is
drawn by the released schedules, never by hand.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import schedules as S  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img")


def _save(fig, name):
    fig.tight_layout()
    path = os.path.join(OUT, name)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print("wrote", os.path.relpath(path))


def cyclical():
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    cases = [
        ("triangular", S.TriangularCyclicalLearningRate(1e-3, 1e-2, step_size=200)),
        ("triangular2", S.Triangular2CyclicalLearningRate(1e-3, 1e-2, step_size=200)),
        ("exp_range (gamma=0.999)",
         S.ExponentialCyclicalLearningRate(1e-3, 1e-2, step_size=200, gamma=0.999)),
        ("asymmetric: step_size=100, step_size_down=300",
         S.TriangularCyclicalLearningRate(1e-3, 1e-2, 100, step_size_down=300)),
    ]
    for ax, (title, schedule) in zip(axes.flat, cases):
        keras_lr.plot_schedule(schedule, 1600, ax=ax)
        ax.set_title(title)
        ax.get_legend().remove()
    _save(fig, "cyclical.png")


def one_cycle():
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    cases = [
        ("OneCycle(0.1, 1000)", S.OneCycle(0.1, 1000)),
        ("three_phase=True", S.OneCycle(0.1, 1000, three_phase=True)),
        ('anneal_strategy="linear"', S.OneCycle(0.1, 1000, anneal_strategy="linear")),
    ]
    for ax, (title, schedule) in zip(axes, cases):
        keras_lr.plot_schedule(schedule, 1000, ax=ax,
                               momentum=schedule.momentum_schedule())
        ax.set_title(title)
    _save(fig, "one_cycle.png")


def warmup_join():
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=900)
    for shape in ("linear", "cosine", "exponential"):
        schedule = S.Warmup(cosine, warmup_steps=100, initial_learning_rate=1e-4,
                            shape=shape)
        values = S.schedule_values(schedule, 1000)
        axes[0].plot(values, label=shape)
    axes[0].set_title("Warmup(CosineDecay, 100 steps): shapes")
    axes[0].legend()
    axes[0].set_xlabel("step")
    local = S.Warmup(S.OneCycle(0.1, 800), warmup_steps=200)
    global_ = S.Warmup(S.OneCycle(0.1, 1000), warmup_steps=200, local_step=False)
    axes[1].plot(S.schedule_values(local, 1000), label="local_step=True (default)")
    axes[1].plot(S.schedule_values(global_, 1000), label="local_step=False")
    axes[1].set_title("Warmup(OneCycle): local or global step")
    axes[1].legend()
    axes[1].set_xlabel("step")
    joined = S.Join(
        [S.OneCycle(0.05, 600),
         S.Triangular2CyclicalLearningRate(1e-4, 5e-3, step_size=100)],
        boundaries=[600])
    keras_lr.plot_schedule(joined, 1400, ax=axes[2])
    axes[2].set_title("Join([OneCycle, Triangular2], [600])")
    axes[2].get_legend().remove()
    _save(fig, "warmup_join.png")


def lr_control():
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    import lr_control as example

    example.plot(example.run_variants(epochs=20), os.path.join(OUT, "lr_control.png"))


def per_layer():
    """Per-layer LRs of the example CNN; one-cycle momentum measured from the update."""
    import sys

    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    import fine_tune_discriminative as example

    fig, (bars, curve) = plt.subplots(1, 2, figsize=(11, 3.6))
    model = example.classifier(5, "head")
    high = example.HIGH
    variants = {
        f"discriminative(model, ({example.LOW:g}, {high:g}))":
            keras_lr.optimizers.discriminative(model, (example.LOW, high)),
        "layerwise_decay(model, 0.5)": keras_lr.optimizers.layerwise_decay(model, 0.5),
    }
    names = [layer.name for layer in model.layers if layer.trainable_weights]
    width = 0.8 / len(variants)
    for i, (label, multipliers) in enumerate(variants.items()):
        optimizer = keras_lr.optimizers.LRMultiplier(keras.optimizers.Adam(high), multipliers)
        by_path = optimizer.variable_multipliers(model.trainable_variables)
        per_layer = [high * next(m for p, m in by_path.items() if p.split("/")[-2] == n)
                     for n in names]
        bars.bar(np.arange(len(names)) + (i - 0.5) * width, per_layer, width, label=label)
    bars.set_yscale("log")
    bars.set_xticks(range(len(names)), names)
    bars.set_ylabel("learning rate")
    bars.set_title(f"Per-layer learning rates (Adam at {high:g})")
    bars.legend(fontsize=8)

    # A probe whose gradient is exactly 1: m_t = w_t - w_(t-1) and
    # momentum_t = (m_t + lr_t) / m_(t-1), read back from the weights.
    steps = 200
    lr = S.OneCycle(0.1, total_steps=steps)
    momentum = S.OneCycleMomentum(total_steps=steps)
    probe = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    probe.compile(optimizer=keras_lr.optimizers.ScheduledMomentum(
        keras.optimizers.SGD(lr, momentum=0.9), momentum), loss=lambda y, p: p + 0.0 * y)
    kernels = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: kernels.append(
        float(keras.ops.convert_to_numpy(probe.layers[0].kernel)[0, 0])))
    x = np.ones((steps, 1), "float32")
    probe.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    m = np.diff([0.0] + kernels)
    lrs = S.schedule_values(lr, steps)
    measured = (m[1:] + lrs[1:]) / m[:-1]
    curve.plot(np.arange(steps), S.schedule_values(momentum, steps), lw=4, alpha=0.35,
               label="OneCycleMomentum (schedule)")
    curve.plot(np.arange(1, steps), measured, "k.", ms=2.5,
               label="momentum measured from the weight updates")
    curve.set_xlabel("step")
    curve.set_ylabel("momentum")
    curve.set_title("ScheduledMomentum: SGD momentum in the compiled step")
    twin = curve.twinx()
    twin.plot(np.arange(steps), lrs, color="tab:red", lw=1, label="learning rate")
    twin.set_ylabel("learning rate", color="tab:red")
    curve.legend(fontsize=8, loc="upper center")
    _save(fig, "per_layer_lr.png")


def main():
    os.makedirs(OUT, exist_ok=True)
    cyclical()
    one_cycle()
    warmup_join()
    lr_control()
    per_layer()


if __name__ == "__main__":
    main()
