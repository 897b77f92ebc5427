"""`keras_lr.sweep`: K learning rates trained in one compiled run."""

import math
import traceback

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.sweeps._step import make_runner
from keras_lr.sweeps.result import SweepResult

__all__ = ["estimate_memory", "sweep"]


@keras.saving.register_keras_serializable(package="keras_lr")
class _ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`scale * schedule(step)`, the scale an optimizer variable (one value
    per copy of a sweep)."""

    def __init__(self, schedule, scale):
        self.schedule = schedule
        self.scale = scale

    def __call__(self, step):
        base = self.schedule(step) if callable(self.schedule) else self.schedule
        return keras.ops.cast(self.scale, "float32") * keras.ops.cast(base, "float32")

    def get_config(self):
        return {"schedule": self.schedule}


def _validate_rates(learning_rates):
    if isinstance(learning_rates, (str, bytes)):
        raise TypeError(
            "Argument `learning_rates` must be a list of floats > 0. "
            f"Received: learning_rates={learning_rates!r}")
    try:
        rates = [float(lr) for lr in learning_rates]
    except TypeError:
        raise TypeError(
            "Argument `learning_rates` must be a list of floats > 0. "
            f"Received: learning_rates={learning_rates!r}") from None
    if not rates:
        raise ValueError(
            "Argument `learning_rates` must hold at least one learning rate. "
            f"Received: learning_rates={learning_rates!r}")
    for lr in rates:
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(
                "Argument `learning_rates` must hold finite floats > 0. "
                f"Received: learning_rates={learning_rates!r}")
    return rates


def _check_linear(schedule):
    """`schedule(lr)` must scale with `lr`: copy k runs `lr_k * schedule(1)`."""
    one, two = schedule(1.0), schedule(2.0)
    for step in (0, 1, 7, 50, 333, 2000):
        a = float(keras.ops.convert_to_numpy(one(step) if callable(one) else one))
        b = float(keras.ops.convert_to_numpy(two(step) if callable(two) else two))
        if not math.isclose(b, 2 * a, rel_tol=1e-5, abs_tol=1e-12):
            raise ValueError(
                "Argument `schedule` must be a function of the learning rate whose "
                "schedule scales with it (`schedule(2 * lr)(step) == 2 * "
                f"schedule(lr)(step)`); at step {step}: {a} for lr=1 and {b} for lr=2.")
    return one


def _check_arrays(arrays):
    """Arrays (or lists / dicts of them) with one shared first dimension;
    `None` entries are skipped."""
    lengths = {}
    for name, data in arrays.items():
        if data is None:
            continue
        for leaf in keras.tree.flatten(data):
            shape = np.shape(leaf) if not isinstance(leaf, (str, bytes)) else ()
            if len(shape) == 0:
                raise ValueError(
                    f"Argument `{name}` must be an array with a batch axis (or a list or "
                    f"dict of them). Received: {name}={leaf!r}")
            lengths.setdefault(name, int(shape[0]))
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "Arguments " + ", ".join(f"`{n}`" for n in lengths) + " must have the same "
            f"number of samples. Received: {lengths}")


def _is_batched(data):
    """Whether `data` gives batches itself (a `tf.data.Dataset`, a PyTorch
    `DataLoader`, any re-iterable object) instead of being arrays."""
    if data is None or isinstance(data, (list, tuple, dict, np.ndarray, str, bytes)):
        return False
    if keras.ops.is_tensor(data) or hasattr(data, "__array__"):
        return False
    return hasattr(data, "__iter__")


def _check_batched(name, data):
    if iter(data) is data:
        raise ValueError(
            f"Argument `{name}` must be arrays or a re-iterable source of batches "
            "(a `tf.data.Dataset`, a PyTorch `DataLoader`): the sweep reads it once per "
            f"epoch, and an iterator or generator is spent after one. Received: "
            f"{name}={data!r}")


def _dataset_batches(data):
    """The `(x, y, sample_weight)` batches of a batched source, as NumPy."""
    for element in data:
        if not isinstance(element, (list, tuple)) or len(element) not in (2, 3):
            raise ValueError(
                "A batched source given to sweep must yield `(x, y)` or `(x, y, "
                "sample_weight)` tuples. Received an element of type "
                f"{type(element).__name__}")
        element = keras.tree.map_structure(keras.ops.convert_to_numpy, tuple(element))
        yield element[0], element[1], element[2] if len(element) == 3 else None


def _batches(x, y, sample_weight, batch_size, shuffle, rng):
    if _is_batched(x):
        yield from _dataset_batches(x)
        return
    n = len(x) if not isinstance(x, (list, tuple)) else len(x[0])
    order = rng.permutation(n) if shuffle else np.arange(n)

    def take(data, index):
        if data is None:
            return None
        if isinstance(data, (list, tuple)):
            return type(data)(np.asarray(d)[index] for d in data)
        if isinstance(data, dict):
            return {k: np.asarray(v)[index] for k, v in data.items()}
        return np.asarray(data)[index]

    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield take(x, index), take(y, index), take(sample_weight, index)


def _nbytes(values):
    return int(sum(np.prod(np.shape(v), dtype="int64") * np.dtype(
        keras.backend.standardize_dtype(v.dtype)).itemsize for v in values))


def _available_memory():
    """Bytes of memory the copies may use: the accelerator's limit on JAX
    when it reports one, else the host's available memory."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        if stats and stats.get("bytes_limit"):
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_memory(model, num_rates, optimizer=None):
    """Bytes a sweep of `num_rates` copies of `model` holds: K times its
    weights (trainable and not), its optimizer state and its metrics.

    Activations come on top (one batch per copy at a time).

    Args:
        model: A built Keras model.
        num_rates: Integer >= 1, the number of learning rates (copies).
        optimizer: A built optimizer (default: the model's).

    Returns:
        The estimate in bytes (int).
    """
    _validation.require_type("model", model, keras.Model, "a built `keras.Model`")
    num_rates = _validation.require_int("num_rates", num_rates, minimum=1)
    if optimizer is not None:
        _validation.require_type("optimizer", optimizer, keras.optimizers.Optimizer,
                                 "None or a built Keras optimizer")
    optimizer = optimizer or model.optimizer
    per_copy = (_nbytes(model.trainable_variables) + _nbytes(model.non_trainable_variables)
                + (_nbytes(optimizer.variables) if optimizer is not None else 0)
                + _nbytes(model.metrics_variables))
    return int(num_rates) * per_copy


def _failing_layer(error):
    """The innermost Keras layer (not the model) in `error`'s traceback."""
    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.layers.Layer) and not isinstance(owner, keras.Model):
            found = owner
    return found


def sweep(model, x, y=None, *, learning_rates, epochs, batch_size=32, validation_data=None,
          sample_weight=None, schedule=None, seeds=None, shuffle=True, shuffle_seed=0,
          divergence_threshold=None, smoothing=0.9, memory_limit=None, verbose=1):
    """Trains one copy of `model` per learning rate, all in one compiled step.

    The K copies start from the model's weights (or one initialization per
    seed), see the same batches, and each has its own optimizer state at its
    own learning rate: copy `k` trains as `model.fit` would at
    `learning_rates[k]`. The step of all copies is one compiled function
    (`jax.vmap` on JAX, one graph holding the K copies on TensorFlow; on
    PyTorch the copies step eagerly, one after the other), so a grid of K
    rates costs one compilation and one Python step loop instead of K. The
    model itself is left as it was.

    The optimizer is the compiled one (its class and settings, fresh state,
    the learning rate replaced); gradient clipping and weight decay act per
    copy. With `schedule`, copy `k` runs `learning_rates[k] * schedule(1.0)`
    (the schedule must scale with its learning rate, e.g. `lambda lr:
    keras_lr.schedules.OneCycle(lr, total_steps=...)`). Dropout draws
    independent streams per copy; BatchNormalization keeps statistics per
    copy.

    A copy diverges when its loss or a gradient is NaN or infinite (a bad
    row in the data, or a rate far too large) or, with
    `divergence_threshold`, when the moving average of its batch loss
    (beta `smoothing`) rises above `best + (threshold - 1) * max(|best|,
    0.01 * |first|)` (`keras_lr.callbacks.DivergenceGuard`'s rule, right for
    negative losses too); it then stops updating (its weights stay those of
    the last healthy step) while the others go on. The threshold is off by
    default: at a constant rate the loss of the first steps can spike and
    recover (a `fit` at that rate would go on), and a copy costs the same
    whether it is masked or not.

    It trains what `fit` trains with Keras's standard step and one Keras
    optimizer; it refuses (with the reason) a model with its own
    `train_step`, an optimizer wrapper (`LRMultiplier`, `Mechanic`,
    `ScheduledMomentum`, `Hypergradient`, a `MultiOptimizer`), a
    learning-rate-free optimizer and `use_ema=True`, whose copies would not
    train as `fit` does.

    Args:
        model: A compiled Keras model (loss, metrics, optimizer), built or not.
        x: Input arrays (NumPy or backend tensors; a list/dict for several
            inputs), or a dataset of `(x, y)` / `(x, y, sample_weight)`
            batches read once per epoch in its own order (a
            `tf.data.Dataset`, a Keras `PyDataset`, a PyTorch `DataLoader`,
            any re-iterable object; then `y`, `sample_weight`, `batch_size` and `shuffle` do
            not apply).
        y: Target arrays (not with a dataset `x`).
        learning_rates: List of floats > 0, one copy each.
        epochs: Integer >= 1.
        batch_size: Integer >= 1. Defaults to `32`.
        validation_data: Optional `(x_val, y_val)` or `(x_val, y_val,
            sample_weight)`, or a dataset of such batches, evaluated for
            every copy after each epoch.
        sample_weight: Optional array of per-sample weights.
        schedule: Optional function `lr -> LearningRateSchedule` (or float):
            each copy's schedule.
        seeds: Optional list of ints, one per learning rate: each copy
            re-initialized from the model's initializers with that seed
            (default: every copy starts from the model's current weights).
        shuffle: Boolean: shuffle the training data each epoch (the same
            order for every copy). Defaults to `True`.
        shuffle_seed: Integer seed of the shuffling. Defaults to `0`.
        divergence_threshold: Float > 1, or None for NaN/inf only.
            Defaults to `None`.
        smoothing: Float in [0, 1): the moving average of the divergence
            rule. Defaults to `0.9`.
        memory_limit: Optional int, bytes the copies may hold (default: half
            the memory available now, on the accelerator for JAX when it says).
        verbose: 0 (silent) or 1 (a progress bar over the epochs).

    Returns:
        A `keras_lr.sweeps.SweepResult`: `histories`, `best()`, `plot()`,
        `to_dict()` / `to_json()`, `export(k)`.

    Raises:
        ValueError: for bad arguments (no learning rates, a rate <= 0, a
            model not compiled, an iterator or generator as data, `y` with a
            dataset), for a model or optimizer the copies cannot train as
            `fit` does (see above), when the K copies would not fit in
            memory, or when a layer cannot be vectorized (it is named).

    Example:

    >>> result = keras_lr.sweep(model, x, y, learning_rates=[1e-3, 3e-3, 1e-2],
    ...                         epochs=5, validation_data=(xv, yv))  # doctest: +SKIP
    >>> result.best()  # doctest: +SKIP
    >>> best_model = result.export()  # doctest: +SKIP
    """
    _validation.require_type("model", model, keras.Model, "a compiled `keras.Model`")
    rates = _validate_rates(learning_rates)
    epochs = _validation.require_int("epochs", epochs, minimum=1)
    batch_size = _validation.require_int("batch_size", batch_size, minimum=1)
    shuffle = _validation.require_bool("shuffle", shuffle)
    _validation.require_int("shuffle_seed", shuffle_seed, minimum=0)
    verbose = _validation.require_one_of("verbose", verbose, (0, 1))
    if divergence_threshold is not None:
        _validation.require_number("divergence_threshold", divergence_threshold, minimum=1,
                                   min_inclusive=False)
    _validation.require_number("smoothing", smoothing, minimum=0, maximum=1,
                               max_inclusive=False)
    if memory_limit is not None:
        _validation.require_int("memory_limit", memory_limit, minimum=1)
    if schedule is not None and not callable(schedule):
        raise TypeError(
            "Argument `schedule` must be a function of the learning rate giving the "
            f"schedule (e.g. `lambda lr: OneCycle(lr, 1000)`). Received: schedule={schedule!r}")
    if seeds is not None:
        if not isinstance(seeds, (list, tuple)) or len(seeds) != len(rates):
            raise ValueError(
                "Argument `seeds` must have one seed per learning rate "
                f"({len(rates)}). Received: seeds={seeds!r}")
        for seed in seeds:
            _validation.require_int("seeds", seed, minimum=0)
    if x is None:
        raise ValueError("Argument `x` is required: the training data.")
    if _is_batched(x):
        _check_batched("x", x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"Argument `{name}` must not be given when `x` is a dataset (it "
                    f"yields the `(x, y[, sample_weight])` batches). Received: {name}="
                    f"{type(value).__name__}")
    elif y is None:
        raise ValueError("Argument `y` is required: sweep trains on arrays `x`, `y`, or "
                         "on a dataset `x` of `(x, y)` batches.")
    else:
        _check_arrays({"x": x, "y": y, "sample_weight": sample_weight})
    if validation_data is not None:
        if _is_batched(validation_data):
            _check_batched("validation_data", validation_data)
        elif (not isinstance(validation_data, (list, tuple))
              or len(validation_data) not in (2, 3)):
            raise ValueError(
                "Argument `validation_data` must be `(x_val, y_val)`, `(x_val, y_val, "
                "sample_weight)` or a dataset of such batches. Received: "
                f"validation_data={validation_data!r}")
        else:
            _check_arrays(dict(zip(("validation_data[0]", "validation_data[1]",
                                    "validation_data[2]"), validation_data)))
    config = keras_private.compile_arguments(model)
    if config is None:
        raise ValueError(
            "sweep needs a compiled model (its loss, metrics and optimizer): call "
            "`model.compile(...)` first.")
    _check_trains_as_fit(model)
    base_optimizer = innermost_optimizer(model.optimizer)
    if isinstance(keras_private.learning_rate_slot(base_optimizer),
                  keras.optimizers.schedules.LearningRateSchedule) and schedule is None:
        raise ValueError(
            "The model's optimizer has a learning-rate schedule; pass `schedule=` (a "
            "function of the learning rate giving the schedule) to sweep it.")
    shape = _check_linear(schedule) if schedule is not None else 1.0

    first = next(_batches(x, y, sample_weight, batch_size, False, None), None)
    if first is None:
        raise ValueError(f"Argument `x` gives no batch to train on. Received: x={x!r}")
    if not model.built or keras_private.compiled_metrics(model) is None or not getattr(
            model.optimizer, "built", False):
        keras_private.symbolic_build(model, first if sample_weight is not None else first[:2])
    model_state = ([np.array(v) for v in model.trainable_variables],
                   [np.array(v) for v in model.non_trainable_variables])

    # The copies' optimizer: the compiled one's class and settings, fresh,
    # with a per-copy scale on the learning rate.
    optimizer_config = base_optimizer.get_config()
    optimizer = type(base_optimizer).from_config({**optimizer_config, "learning_rate": 1.0})
    optimizer.build(model.trainable_variables)
    scale = optimizer.add_variable((), initializer="ones", name="sweep_lr_scale")
    keras_private.set_learning_rate_slot(optimizer, _ScaledSchedule(shape, scale))
    limit = memory_limit
    if limit is None:
        available = _available_memory()
        limit = None if available is None else available // 2
    needed = estimate_memory(model, len(rates), optimizer)
    if limit is not None and needed > limit:
        raise ValueError(
            f"sweep of {len(rates)} learning rates needs about {needed / 2**20:.1f} MiB "
            f"(K copies of the weights, optimizer state and metrics: "
            f"{needed / len(rates) / 2**20:.2f} MiB each), more than the "
            f"{limit / 2**20:.1f} MiB allowed (`memory_limit`, default half the memory "
            "available). Sweep fewer learning rates at once.")

    index = [i for i, v in enumerate(optimizer.variables) if v is scale][0]
    optimizer_state = [np.array(v) for v in optimizer.variables]
    metrics = keras_private.compiled_metrics(model)
    if metrics is not None and not metrics.variables:
        metrics = None
    initial_metrics = [np.array(v) for v in metrics.variables] if metrics else []
    seed_paths = [i for i, v in enumerate(model.non_trainable_variables)
                  if "seed_generator_state" in v.path]

    states = []
    for k, lr in enumerate(rates):
        trainable, non_trainable = _initial_weights(model, model_state, seeds, k)
        non_trainable = [np.array(v) for v in non_trainable]
        for i in seed_paths:  # an independent random stream per copy
            non_trainable[i] = non_trainable[i] + np.array(
                [k * 1_000_003, 0], dtype=non_trainable[i].dtype)
        opt = list(optimizer_state)
        opt[index] = np.asarray(lr, "float32")
        states.append([list(trainable), non_trainable, opt, list(initial_metrics),
                       [np.float32(1.0), np.float32(0.0), np.float32(0.0), np.float32(0.0),
                        np.float32(0.0)]])
    def make_optimizer(k):
        return type(base_optimizer).from_config(
            {**optimizer_config, "learning_rate": _ScaledSchedule(shape, rates[k])})

    runner = make_runner(model, optimizer, make_optimizer, states, divergence_threshold,
                         smoothing)

    rng = np.random.default_rng(shuffle_seed)
    histories = [dict() for _ in rates]
    diverged_at = [None] * len(rates)
    progbar = keras.utils.Progbar(epochs, unit_name="epoch") if verbose else None
    step = 0
    for epoch in range(epochs):
        runner.reset_metrics(initial_metrics)
        totals = np.zeros(len(rates))
        counts = np.zeros(len(rates))
        for bx, by, bw in _batches(x, y, sample_weight, batch_size, shuffle, rng):
            alive_before = runner.alive()
            try:
                losses = runner.train(bx, by, bw)
            except Exception as e:  # noqa: BLE001  (named and re-raised)
                if step == 0:
                    _raise_unvectorizable(e)
                raise
            alive = runner.alive()
            weight = len(bx if not isinstance(bx, (list, tuple, dict)) else
                         next(iter(bx.values() if isinstance(bx, dict) else bx)))
            totals += np.where(alive, losses, 0.0) * weight
            counts += weight
            for k in np.nonzero(alive_before & ~alive)[0]:
                diverged_at[k] = step
            step += 1
        alive = runner.alive()
        for k in range(len(rates)):
            history = histories[k]
            ok = alive[k]
            history.setdefault("loss", []).append(
                float(totals[k] / counts[k]) if ok else math.nan)
            if metrics is not None:
                values = metrics.stateless_result(runner.metrics_of(
                    runner.metric_states(), k))
                for name, value in values.items():
                    history.setdefault(name, []).append(
                        float(keras.ops.convert_to_numpy(value)) if ok else math.nan)
        if validation_data is not None:
            _validate(runner, metrics, initial_metrics, validation_data, batch_size,
                      histories, alive)
        if progbar is not None:
            progbar.update(epoch + 1, [("alive", float(alive.sum()))])

    directions = {}
    if metrics is not None:
        for name in histories[0]:
            direction = keras_private.metric_direction(model, name)
            if direction is not None:
                directions[name] = "max" if direction == "up" else "min"

    def weights_of(k):
        trainable, non_trainable = runner.copy(k, 0), runner.copy(k, 1)
        values = {id(v): t for v, t in zip(model.trainable_variables, trainable)}
        values.update({id(v): t for v, t in zip(model.non_trainable_variables, non_trainable)})
        return [values[id(v)] for v in model.weights]

    def export(k):
        clone = keras.models.clone_model(model)
        clone.set_weights(weights_of(k))
        lr = rates[k] if schedule is None else schedule(rates[k])
        new_optimizer = type(base_optimizer).from_config(
            {**optimizer_config, "learning_rate": lr})
        arguments = dict(config)
        arguments["optimizer"] = new_optimizer
        clone.compile(**arguments)
        return clone

    return SweepResult(rates, histories, diverged_at, directions, exporter=export,
                       weights=weights_of)


def _check_trains_as_fit(model):
    """Refuses what the copies could not train as `fit` would: each copy's
    step is Keras's standard one with the innermost optimizer's update."""
    if keras_private.has_custom_train_step(model):
        raise ValueError(
            f"sweep trains each copy with Keras's standard step, but {type(model).__name__} "
            "overrides `train_step`: the copies would not train as `fit` does. Sweep the "
            "learning rate with separate `fit` calls (or `keras_lr.tuning`) for this model.")
    optimizer = model.optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    if isinstance(optimizer, OptimizerWrapper) or isinstance(
            optimizer, keras.optimizers.MultiOptimizer):
        raise ValueError(
            f"sweep trains each copy with one Keras optimizer; the model's "
            f"{type(optimizer).__name__} (a wrapper of {type(innermost_optimizer(optimizer)).__name__}) "
            "would be dropped, and the copies would not train as `fit` does. Compile the "
            "model with the bare optimizer to sweep its learning rate.")
    if isinstance(optimizer, GlobalStepOptimizer):
        raise ValueError(
            f"sweep does not train {type(optimizer).__name__}: a learning-rate-free "
            "optimizer estimates its own step size (its `learning_rate` is a multiplier "
            "near 1), and its evaluation point and estimate are not kept per copy. Sweep "
            "the learning rate of a standard optimizer (SGD, Adam, ...).")
    if optimizer.use_ema:
        raise ValueError(
            "sweep does not keep a moving average of each copy's weights: the model's "
            "optimizer has `use_ema=True`, so the copies would not end as `fit` ends. "
            "Compile with `use_ema=False` to sweep the learning rate.")


def _initial_weights(model, model_state, seeds, k):
    if seeds is None:
        return model_state
    keras.utils.set_random_seed(int(seeds[k]))
    clone = keras.models.clone_model(model)
    if not clone.built:
        clone.build(model.inputs[0].shape if getattr(model, "inputs", None) else None)
    return ([np.array(v) for v in clone.trainable_variables],
            [np.array(v) for v in clone.non_trainable_variables])


def _validate(runner, metrics, initial_metrics, validation_data, batch_size, histories,
              alive):
    if _is_batched(validation_data):
        xv, yv, wv = validation_data, None, None
    else:
        xv, yv = validation_data[0], validation_data[1]
        wv = validation_data[2] if len(validation_data) > 2 else None
    num = len(histories)
    state = runner.fresh_metrics(initial_metrics)
    totals, count = np.zeros(num), 0
    for bx, by, bw in _batches(xv, yv, wv, batch_size, False, None):
        losses, state = runner.evaluate(state, bx, by, bw)
        n = len(by)
        totals += losses * n
        count += n
    for k in range(num):
        histories[k].setdefault("val_loss", []).append(
            float(totals[k] / count) if alive[k] else math.nan)
        if metrics is not None:
            values = metrics.stateless_result(runner.metrics_of(state, k))
            for name, value in values.items():
                histories[k].setdefault(f"val_{name}", []).append(
                    float(keras.ops.convert_to_numpy(value)) if alive[k] else math.nan)


def _raise_unvectorizable(error):
    layer = _failing_layer(error)
    if layer is None:
        raise error
    raise ValueError(
        f"sweep could not run the layer '{layer.name}' ({type(layer).__name__}) for "
        f"K copies at once on the {keras.backend.backend()} backend: "
        f"{type(error).__name__}: {error}") from error
