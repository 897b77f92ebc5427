"""`keras_lr.sweep`: K learning rates trained in one compiled run."""

import math

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.sweeps import _data
from keras_lr.sweeps._copies import Copies
from keras_lr.sweeps._copies import estimate_memory

__all__ = ["estimate_memory", "sweep"]


def validate_rates(learning_rates):
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
    rates = validate_rates(learning_rates)
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
    if _data.is_batched(x):
        _data.check_batched("x", x)
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
        _data.check_arrays({"x": x, "y": y, "sample_weight": sample_weight})
    if validation_data is not None:
        if _data.is_batched(validation_data):
            _data.check_batched("validation_data", validation_data)
        elif (not isinstance(validation_data, (list, tuple))
              or len(validation_data) not in (2, 3)):
            raise ValueError(
                "Argument `validation_data` must be `(x_val, y_val)`, `(x_val, y_val, "
                "sample_weight)` or a dataset of such batches. Received: "
                f"validation_data={validation_data!r}")
        else:
            _data.check_arrays(dict(zip(("validation_data[0]", "validation_data[1]",
                                    "validation_data[2]"), validation_data)))
    config = keras_private.compile_arguments(model)
    if config is None:
        raise ValueError(
            "sweep needs a compiled model (its loss, metrics and optimizer): call "
            "`model.compile(...)` first.")
    check_trains_as_fit(model)
    base_optimizer = innermost_optimizer(model.optimizer)
    if isinstance(keras_private.learning_rate_slot(base_optimizer),
                  keras.optimizers.schedules.LearningRateSchedule) and schedule is None:
        raise ValueError(
            "The model's optimizer has a learning-rate schedule; pass `schedule=` (a "
            "function of the learning rate giving the schedule) to sweep it.")
    shape = _check_linear(schedule) if schedule is not None else 1.0

    copies = Copies(model, rates, x, y, sample_weight, batch_size=batch_size,
                    shuffle=shuffle, shuffle_seed=shuffle_seed, seeds=seeds,
                    schedule=schedule, shape=shape, divergence_threshold=divergence_threshold,
                    smoothing=smoothing, memory_limit=memory_limit)
    progbar = keras.utils.Progbar(epochs, unit_name="epoch") if verbose else None
    for epoch in range(epochs):
        copies.train_epoch()
        if validation_data is not None:
            copies.validate(validation_data)
        if progbar is not None:
            progbar.update(epoch + 1, [("alive", float(copies.alive().sum()))])
    result = copies.result()
    if verbose:
        keras_private.print_msg(describe_sweep(result, epochs))
    return result


def describe_sweep(result, epochs):
    """The line `sweep` prints at its end: what it found, and by what."""
    rates = result.learning_rates
    diverged = sum(d is not None for d in result.diverged_at)
    metric = result._default_metric()
    text = (f"sweep: {len(rates)} learning rates from {min(rates):.3g} to {max(rates):.3g}, "
            f"{epochs} epochs each; {diverged} diverged")
    if diverged == len(rates):
        return text + ": no best rate."
    text += f"; best {result.best():.3g} by the last epoch's {metric}"
    if metric == "loss":
        text += " (training loss: pass `validation_data` to rank on held-out data)"
    return text + "."


def check_trains_as_fit(model):
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


