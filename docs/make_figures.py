"""Generates the pictures of the documentation from the real code.

    python docs/make_figures.py                  # writes docs/img/*.png and docs/img/SOURCES
    python docs/make_figures.py --check          # exit 1 if the figures are older than the code
    python docs/make_figures.py --if-changed --output-dir DIR

`docs/img/SOURCES` holds a digest of what the figures are drawn from (this
script, the package, the examples). CI (`.ci/run`) redraws them, into a
scratch folder (the tracked tree stays clean), only when that digest
changed, and says when the committed figures are older than the code.
"""

import argparse
import hashlib
import os
import pathlib

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import schedules as S  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img")
SOURCES = pathlib.Path(OUT) / "SOURCES"


def digest():
    """A digest of every file the figures are drawn from."""
    files = [pathlib.Path(__file__).resolve()]
    files += sorted((ROOT / "keras_lr").rglob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
    files.append(ROOT / "benchmarks" / "finder_tasks.py")
    sha = hashlib.sha256()
    for path in files:
        sha.update(str(path.relative_to(ROOT)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


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


def wsd():
    """WarmupStableDecay's four decay shapes."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    steps = 1000
    for shape in ("linear", "cosine", "1-sqrt", "exponential"):
        schedule = S.WarmupStableDecay(
            1e-3, steps, warmup_steps=100, decay_fraction=0.3, decay_shape=shape,
            final_learning_rate=1e-5 if shape == "exponential" else 0.0)
        ax.plot(S.schedule_values(schedule, steps), label=f'decay_shape="{shape}"')
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("WarmupStableDecay(1e-3, 1000, warmup_steps=100, decay_fraction=0.3)")
    ax.legend(fontsize=8)
    _save(fig, "wsd.png")


def finder():
    """The range test on the digits MLP: median curve, sweeps as a band."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    result = keras_lr.find_lr(model, (x / 16.0).astype("float32"), y, seed=0, verbose=0)
    figure = result.plot()
    figure.axes[0].set_title(
        "find_lr on the digits MLP (Adam): " + repr(result).split(", ", 3)[-1][:-1], fontsize=8)
    _save(figure, "finder_digits_mlp.png")


def finder_tasks():
    """The range test on three of the finder benchmark's tasks, drawn as the
    digits MLP's figure (the median of three sweeps, their band)."""
    import sys

    # benchmarks/ has its own `_data` module, as examples/ has (imported above).
    examples_data = sys.modules.pop("_data", None)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import finder_tasks as tasks
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        if examples_data is not None:
            sys.modules["_data"] = examples_data

    for slug, name in (("digits_cnn", "finder_digits_cnn.png"),
                       ("breast_cancer_rmsprop", "finder_breast_cancer_mlp.png"),
                       ("diabetes_sgd", "finder_diabetes_regression_mlp.png")):
        task = tasks.load(tasks.by_slug(slug))
        x, y, _, _ = task["data"]
        model = tasks.compiled(task, 1e-3, seed=0)
        result = keras_lr.find_lr(model, x, y, batch_size=task["batch_size"], seed=0,
                                  verbose=0)
        figure = result.plot()
        figure.axes[0].set_title(f"find_lr on {task['name']}", fontsize=9)
        _save(figure, name)


def workflows():
    """fit_one_cycle's LR and beta_1 as the compiled step used them, and
    fine_tune's per-group rates over its two phases."""
    import sys

    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    logger = keras_lr.callbacks.LearningRateLogger()
    history = keras_lr.fit_one_cycle(model, x, y, epochs=8, max_lr=1e-2,
                                     validation_split=0.2, callbacks=[logger], verbose=0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(logger.history["step"], logger.history["learning_rate"], label="learning rate")
    left.set_xlabel("optimizer step")
    left.set_ylabel("learning rate")
    twin = left.twinx()
    twin.plot(logger.history["step"], logger.history["beta_1"], color="tab:orange",
              label="beta_1")
    twin.set_ylabel("Adam beta_1", color="tab:orange")
    steps = history.schedule.total_steps
    left.set_title(f"fit_one_cycle(epochs=8, max_lr=1e-2, validation_split=0.2): "
                   f"{steps} steps", fontsize=9)
    left.legend(fontsize=8, loc="upper right")

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    import fine_tune as example

    xd, yd = example.load()
    backbone = example.pretrained_backbone(xd[yd < 5], yd[yd < 5], seed=0)
    target = yd >= 5
    tuned = example.new_model(backbone)
    phases = [keras_lr.callbacks.LearningRateLogger(), keras_lr.callbacks.LearningRateLogger()]

    keras.utils.set_random_seed(0)
    keras_lr.fine_tune(tuned, xd[target][:100], yd[target][:100] - 5, backbone=backbone,
                       epochs=4, base_lr=3e-3, batch_size=16, verbose=0,
                       callbacks=[_Logged(phases)])
    offset = 0
    for i, logger in enumerate(phases):
        for name, values in logger.history.items():
            if name.startswith("learning_rate") and (i == 0 and name == "learning_rate"
                                                     or i == 1 and "/" in name):
                if i == 0:
                    label = "head (frozen phase)"
                else:
                    ratio = np.median(np.array(values) / np.array(logger.history["learning_rate"]))
                    label = f"{name.split('/', 1)[1]} (x{ratio:.2g})"
                right.plot(np.array(logger.history["step"]) + offset, values, label=label)
        offset += len(logger.history["step"])
    right.set_yscale("log")
    right.set_xlabel("step (frozen phase, then unfrozen)")
    right.set_ylabel("learning rate")
    right.set_title("fine_tune: head first, then discriminative one-cycle", fontsize=9)
    right.legend(fontsize=7)
    _save(fig, "workflows.png")


class _Logged(keras.callbacks.Callback):
    """Runs a fresh LearningRateLogger per `fit` (fine_tune's two phases)."""

    def __init__(self, loggers):
        super().__init__()
        self.loggers, self.current = loggers, -1

    def set_model(self, model):
        super().set_model(model)
        for logger in self.loggers:
            logger.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for logger in self.loggers:
            logger.set_params(params)

    def on_train_begin(self, logs=None):
        self.current += 1
        self.loggers[self.current].on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.loggers[self.current].on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.loggers[self.current].on_train_batch_end(batch, logs)


def lr_free():
    """Each learning-rate-free optimizer's estimated step size on the digits MLP."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for name, make in [("Prodigy: d * lr", keras_lr.optimizers.Prodigy),
                       ("DAdaptAdam: d * lr", keras_lr.optimizers.DAdaptAdam),
                       ("DoG: eta (an SGD step)", keras_lr.optimizers.DoG)]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(make(), "sparse_categorical_crossentropy")
        logger = keras_lr.callbacks.LearningRateLogger(frequency=5)
        model.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[logger])
        ax.plot(logger.history["step"], logger.history["effective_learning_rate"], label=name)
    ax.axhline(1e-3, color="gray", linestyle=":", label="Adam's default 1e-3")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step (digits MLP, 10 epochs)")
    ax.set_ylabel("estimated step size")
    ax.set_title("The step size each optimizer estimated, from d0 = 1e-6", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, "lr_free.png")


def sweep():
    """A 9-rate sweep of the digits MLP: final accuracy against the rate, curves."""
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    result = keras_lr.sweep(model, x[:1300], y[:1300], learning_rates=np.logspace(-4, 0.5, 10),
                            epochs=5, validation_data=(x[1300:], y[1300:]), verbose=0)
    fig = result.plot("val_accuracy")
    fig.suptitle("keras_lr.sweep: 10 learning rates of the digits MLP in one compiled run",
                 fontsize=10)
    _save(fig, "sweep.png")


def halving():
    """`halving_grid` on the digits MLP (the example's): the rungs."""
    import sys

    from sklearn.datasets import load_digits

    sys.path.insert(0, str(ROOT / "examples"))
    import halving_grid as example

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    _, result = keras_lr.sweeps.halving_grid(example.build(), x[:1300], y[:1300], epochs=10,
                                             batch_size=64, validation_data=(x[1300:], y[1300:]))
    _save(example.plot_rungs(result), "halving_grid.png")


def main():
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/img is older than the code it is drawn from")
    parser.add_argument("--if-changed", action="store_true",
                        help="draw only if the code changed since docs/img was drawn")
    parser.add_argument("--output-dir", default=None, help="draw here instead of docs/img")
    args = parser.parse_args()
    current = SOURCES.read_text().strip() if SOURCES.exists() else ""
    if args.check:
        if current != digest():
            print("docs/img is older than the code: run `python docs/make_figures.py`")
            return 1
        print("docs/img is current")
        return 0
    if args.if_changed and current == digest():
        print("docs/img is current: nothing to draw")
        return 0
    if args.output_dir:
        OUT = args.output_dir
    os.makedirs(OUT, exist_ok=True)
    _draw_all()
    if not args.output_dir:
        SOURCES.write_text(digest() + "\n")
    return 0


def _draw_all():
    cyclical()
    one_cycle()
    warmup_join()
    wsd()
    lr_control()
    per_layer()
    finder()
    finder_tasks()
    workflows()
    lr_free()
    sweep()
    halving()


if __name__ == "__main__":
    raise SystemExit(main())
