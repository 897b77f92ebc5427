"""`keras_lr.fit_one_cycle`: one-cycle training in one call, sized from `fit`."""

import inspect
import json
import os

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.data import steps_per_epoch_of
from keras_lr._core.learning_rate import innermost_optimizer
from keras_lr._core.learning_rate import strategy_scope
from keras_lr._core.snapshot import warn_if_weights_not_finite
from keras_lr.finder import LRFinderResult
from keras_lr.finder import UnreliableCurveError
from keras_lr.finder import find_lr
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import Mechanic
from keras_lr.optimizers._global_step import GlobalStepOptimizer
from keras_lr.optimizers import ScheduledMomentum
from keras_lr.schedules import OneCycle

__all__ = ["check_fit_arguments", "fit_one_cycle", "one_cycle_optimizer", "steps_per_epoch_of"]

# fastai's `fit_one_cycle` defaults (PyTorch's `OneCycleLR`: 0.3 and 1e4).
# fastai's final rate is `lr_max / 1e5`; `final_div_factor` divides the
# initial rate (PyTorch's convention), `lr_max / 25`: 1e5 / 25 = 4e3.
DEFAULT_PCT_START = 0.25
DEFAULT_DIV_FACTOR = 25.0
DEFAULT_FINAL_DIV_FACTOR = 4e3
DEFAULT_MOMENTUM = (0.95, 0.85)


def one_cycle_optimizer(optimizer, schedule, momentum=(0.95, 0.85),
                        multipliers=None):
    """A new optimizer like `optimizer`, with `schedule` as its learning rate
    and the one-cycle momentum in the compiled step.

    The optimizer's class and settings are kept (weight decay, clipping,
    `epsilon`, ...); its state is not (it is a new optimizer, as after a
    Keras `compile`). A keras-lr `LRMultiplier` around it is kept (or
    replaced by `multipliers`), and so is a `Mechanic` (outermost, with its
    settings); a `LossScaleOptimizer` is left to `compile` (mixed precision
    wraps the new one again). Any other wrapper is refused, so that nothing
    the model was compiled with is silently dropped.

    Args:
        optimizer: A Keras optimizer (or a keras-lr wrapper of one).
        schedule: The learning-rate schedule, e.g. a `OneCycle`.
        momentum: `(max_momentum, base_momentum)`: SGD's `momentum` or an
            Adam-family `beta_1` goes from the first to the second while the
            LR rises, and back. `None` keeps the optimizer's own. Ignored
            for an optimizer with neither (or an SGD without momentum).
        multipliers: Optional dict for `LRMultiplier`.

    Returns:
        A Keras optimizer.

    Raises:
        ValueError: if a wrapper in the chain learns its learning rate
            (`Hypergradient`) or cannot be rebuilt, or if `momentum` is
            given for a learning-rate-free optimizer (Prodigy, ...), whose
            moments keras-lr does not schedule.
    """
    _validation.require_type("optimizer", optimizer, keras.optimizers.Optimizer,
                             "a Keras optimizer instance (the model's `optimizer`)")
    _validation.require_type("schedule", schedule,
                             keras.optimizers.schedules.LearningRateSchedule,
                             "a learning-rate schedule (e.g. a `OneCycle`)")
    if momentum is not None:
        _momentum_pair(momentum)
    if multipliers is not None:
        _validation.require_type("multipliers", multipliers, dict,
                                 "None or a dict of per-layer multipliers")
    kept_multipliers = mechanic = None
    current = optimizer
    while current is not None:
        if getattr(current, "learns_learning_rate", False):
            raise ValueError(
                f"{type(current).__name__} learns the learning rate itself; "
                "a one-cycle schedule cannot also set it. Compile the model "
                "with the plain optimizer.")
        if isinstance(current, LRMultiplier):
            kept_multipliers = (current.multipliers, current.default_multiplier)
        elif isinstance(current, Mechanic):
            mechanic = current.get_config()
        elif not isinstance(current, (ScheduledMomentum, keras.optimizers.LossScaleOptimizer)) \
                and getattr(current, "inner_optimizer", None) is not None:
            raise ValueError(
                f"fit_one_cycle rebuilds the optimizer around the one-cycle schedule and "
                f"does not know how to rebuild the {type(current).__name__} around "
                f"{type(current.inner_optimizer).__name__}. Compile the model with the "
                "optimizer alone (or an LRMultiplier / Mechanic around it).")
        current = getattr(current, "inner_optimizer", None)
    base = innermost_optimizer(optimizer)
    if isinstance(base, keras.optimizers.MultiOptimizer):
        raise ValueError(
            "fit_one_cycle rebuilds the optimizer around the one-cycle schedule and does "
            "not know how to rebuild a MultiOptimizer (one schedule for several "
            "optimizers). Give each sub-optimizer its own `OneCycle` and call `fit`, or "
            "use one optimizer with `multipliers=` for per-layer rates.")
    if momentum is not None and getattr(base, "gradient_accumulation_steps", None):
        raise ValueError(
            "fit_one_cycle cycles the momentum inside the compiled step (a "
            "ScheduledMomentum), which does not accumulate gradients; the optimizer has "
            f"`gradient_accumulation_steps={base.gradient_accumulation_steps}`. Pass "
            "`momentum=None` to keep its own momentum (the one-cycle schedule of the "
            f"learning rate then runs as sized). Received: momentum={momentum!r}")
    if momentum is not None and isinstance(base, GlobalStepOptimizer):
        raise ValueError(
            f"fit_one_cycle cycles the momentum (`beta_1`) of the optimizer, but "
            f"{type(base).__name__} estimates its own step size from its moments, and "
            "keras-lr does not schedule them. Pass `momentum=None` to keep its own "
            f"(the one-cycle schedule then scales its learning-rate multiplier). "
            f"Received: momentum={momentum!r}")
    config = base.get_config()
    config["learning_rate"] = schedule
    new = type(base).from_config(config)
    if multipliers is not None:
        new = LRMultiplier(new, multipliers)
    elif kept_multipliers is not None:
        new = LRMultiplier(new, kept_multipliers[0], kept_multipliers[1])
    if momentum is not None:
        high, low = _momentum_pair(momentum)
        has_momentum = isinstance(base, keras.optimizers.SGD) and base.momentum > 0
        if has_momentum or isinstance(getattr(base, "beta_1", None), float):
            new = ScheduledMomentum(new, schedule.momentum_schedule(
                base_momentum=low, max_momentum=high))
    if mechanic is not None:
        # Mechanic learns the scale of the scheduled steps; it stays outermost.
        options = {k: v for k, v in mechanic.items() if k not in ("optimizer", "name")}
        new = Mechanic(new, name=mechanic.get("name", "mechanic"), **options)
    return new


class _BackedUpChoice:
    """The range test's answer, kept in the `BackupAndRestore` directory of
    the run (deleted with it when training ends), so that a resumed
    `fit_one_cycle(max_lr=None)` continues the same cycle."""

    FILE = "keras_lr_fit_one_cycle.json"

    @classmethod
    def of(cls, callbacks):
        """The choice of the run's `BackupAndRestore`, or None without one."""
        for callback in callbacks or ():
            if isinstance(callback, keras.callbacks.BackupAndRestore):
                return cls(callback)
        return None

    def __init__(self, backup):
        self.path = os.path.join(os.fspath(backup.backup_dir), self.FILE)
        self.saved = None
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.saved = json.load(f)

    def save(self, max_lr, div_factor):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w") as f:
            json.dump({"max_lr": float(max_lr), "div_factor": float(div_factor)}, f)


def _accepted_by_fit(model, key):
    parameters = inspect.signature(model.fit).parameters
    return key in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                    for p in parameters.values())


# fastai's names for what these workflows call otherwise.
FASTAI_NAMES = {"lr_max": "max_lr", "base_lr": "max_lr", "div": "div_factor",
                "div_final": "final_div_factor", "moms": "momentum", "cbs": "callbacks",
                "n_epoch": "epochs", "freeze_epochs": "epochs (a second fit)",
                "wd": "the optimizer's `weight_decay`", "bs": "batch_size"}


def check_fit_arguments(callbacks, verbose, multipliers=None, fit_kwargs=None, model=None,
                        caller="fit_one_cycle"):
    """The arguments a workflow passes on to `fit` or an `LRMultiplier`,
    checked before the range test (minutes before `fit` would check them).
    `fit_kwargs` (what goes on to `model.fit`) must be `fit`'s: a fastai name
    is pointed to its name here."""
    for key in fit_kwargs or ():
        if key in FASTAI_NAMES:
            raise TypeError(
                f"{caller}() got an unexpected keyword argument `{key}`: fastai's `{key}` "
                f"is `{FASTAI_NAMES[key]}` here.")
        if model is not None and not _accepted_by_fit(model, key):
            raise TypeError(
                f"{caller}() got an unexpected keyword argument `{key}`: it is neither "
                f"one of its own nor one of `model.fit`'s. Received: {key}="
                f"{fit_kwargs[key]!r}")
    if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(c, keras.callbacks.Callback) for c in callbacks)):
        raise ValueError(
            "Argument `callbacks` must be a list of `keras.callbacks.Callback`s. "
            f"Received: callbacks={callbacks!r}")
    _validation.require_one_of("verbose", verbose, ("auto", 0, 1, 2))
    if multipliers is not None and not isinstance(multipliers, dict):
        raise TypeError(
            "Argument `multipliers` must be a dict of per-layer learning-rate "
            "multipliers (e.g. from `keras_lr.optimizers.discriminative`). "
            f"Received: multipliers={multipliers!r}")


def describe_cycle(schedule, epochs, steps, momentum, multipliers, result):
    """The line `fit_one_cycle` prints before it trains: what it chose."""
    source = "from the range test" if result is not None else "given"
    start = schedule.max_learning_rate / schedule.div_factor
    end = start / schedule.final_div_factor
    text = (f"fit_one_cycle: {epochs} epochs x {steps} steps = {schedule.total_steps} steps; "
            f"max_lr {schedule.max_learning_rate:.3g} ({source}), from {start:.3g} up for "
            f"{schedule.pct_start:.0%} of the steps, then down to {end:.3g}")
    if momentum is not None:
        text += f"; momentum {momentum[0]:g} -> {momentum[1]:g} and back"
    if multipliers is not None:
        text += f"; {len(set(dict(multipliers).values()))} per-layer rate groups"
    return text + "."


def _momentum_pair(momentum):
    if (not isinstance(momentum, (tuple, list)) or len(momentum) != 2):
        raise ValueError(
            "Argument `momentum` must be a pair `(max_momentum, base_momentum)` "
            f"or None. Received: momentum={momentum!r}")
    high = _validation.require_number("momentum[0]", momentum[0], minimum=0, maximum=1,
                                      max_inclusive=False)
    low = _validation.require_number("momentum[1]", momentum[1], minimum=0, maximum=1,
                                     max_inclusive=False)
    if low > high:
        raise ValueError(
            "Argument `momentum` must be `(max_momentum, base_momentum)` with "
            f"max_momentum >= base_momentum. Received: momentum={momentum!r}")
    return high, low


def _resolve_max_lr(max_lr, div_factor, model, x, y, batch_size, validation_split,
                    find_lr_kwargs, verbose):
    """`(max_lr, div_factor, result)` from a float, a finder result or None."""
    result = None
    if max_lr is None:
        kwargs = dict(find_lr_kwargs or {})
        kwargs.setdefault("verbose", verbose)
        if batch_size is not None:
            kwargs.setdefault("batch_size", batch_size)
        fx, fy = x, y
        if validation_split:
            (fx, fy, _), _ = keras_private.split_for_validation(x, y, None, validation_split)
        result = find_lr(model, fx, fy, **kwargs)
        try:
            result.suggest_range()
        except UnreliableCurveError as e:
            raise ValueError(
                f"The range test that sets the one-cycle peak gave no reliable answer: {e} "
                "Pass the peak yourself (`max_lr=` to fit_one_cycle, `base_lr=` to "
                "fine_tune), or change the sweep with `find_lr_kwargs=`.") from e
        max_lr = result
    elif find_lr_kwargs is not None:
        raise ValueError(
            "Argument `find_lr_kwargs` is for the range test that runs when "
            f"`max_lr=None`. Received: max_lr={max_lr!r}, find_lr_kwargs={find_lr_kwargs!r}")
    if isinstance(max_lr, LRFinderResult):
        result = max_lr
        low, high = result.suggest_range()
        return high, (high / low if div_factor is None else div_factor), result
    if isinstance(max_lr, slice):
        raise TypeError(
            "Argument `max_lr` must be a number or a `find_lr` result. fastai's "
            "`max_lr=slice(low, high)` (a rate per layer group) is, here, `max_lr=high` "
            "and `multipliers=keras_lr.optimizers.discriminative(model, (low, high), "
            f"groups=...)`. Received: max_lr={max_lr!r}")
    max_lr = _validation.require_positive("max_lr", max_lr)
    return max_lr, (DEFAULT_DIV_FACTOR if div_factor is None else div_factor), result


def fit_one_cycle(model, x=None, y=None, *, epochs, max_lr=None, batch_size=None,
                  steps_per_epoch=None, validation_split=0.0, validation_data=None,
                  pct_start=0.25, div_factor=None,
                  final_div_factor=4e3, momentum=(0.95, 0.85),
                  multipliers=None, find_lr_kwargs=None, callbacks=None, verbose="auto",
                  **fit_kwargs):
    """Trains `model` with the one-cycle policy, sized from `fit`'s arguments.

    fastai's `fit_one_cycle` for Keras: the cycle (`keras_lr.schedules.OneCycle`)
    lasts exactly the `epochs * steps_per_epoch` optimizer steps this `fit`
    runs, with `steps_per_epoch` computed as `fit` computes it (batch size,
    `validation_split`, a dataset's cardinality, a `PyDataset`'s length), so
    the last step trains at the schedule's final value and no step runs past
    it. The momentum (SGD's `momentum`, an Adam-family `beta_1`) cycles the
    other way inside the compiled step (`ScheduledMomentum`).

    The model is compiled again with a new optimizer of the class and
    settings it was compiled with (its loss, metrics, `steps_per_execution`
    and `jit_compile` kept): the Keras way after a change of the training
    setup. The model stays compiled with it afterwards, so `model.save`
    keeps the schedule and a `BackupAndRestore` resume (calling
    `fit_one_cycle` again with the same arguments) continues the cycle.

    Args:
        model: A compiled `keras.Model` (built or not).
        x: Training data, as for `fit`.
        y: Targets, with array `x`.
        epochs: Integer >= 1. The length of the cycle and of the training.
        max_lr: The peak learning rate: a float; or an `LRFinderResult`
            (peak `suggest_range()[1]`, start `suggest_range()[0]`: the same
            cycle as `result.one_cycle(...)`); or `None` (the default) to run
            `keras_lr.find_lr` on the training data first. With a
            `BackupAndRestore` in `callbacks`, its answer is kept in the
            backup directory, and a resumed call continues that cycle
            instead of testing the fresh weights again.
        batch_size: Integer, with array data. Defaults to `32` (Keras's).
        steps_per_epoch: Optional integer, as for `fit`; required for a
            generator or a dataset of unknown cardinality.
        validation_split: Float in [0, 1), as for `fit`.
        validation_data: As for `fit`.
        pct_start: Float in (0, 1). Fraction of the cycle spent rising.
            Defaults to `0.25` (fastai's).
        div_factor: Float > 0. `initial_lr = max_lr / div_factor`. Defaults
            to `25` for a float `max_lr`, `max / min` of the finder's range
            for a result.
        final_div_factor: Float > 0. `final_lr = initial_lr /
            final_div_factor` (PyTorch's convention). Defaults to `4e3`:
            with `div_factor=25`, fastai's `lr_max / 1e5`.
        momentum: `(max_momentum, base_momentum)`, or None to keep the
            optimizer's. Defaults to `(0.95, 0.85)`.
        multipliers: Optional dict of per-layer LR multipliers (an
            `LRMultiplier`), e.g. from `keras_lr.optimizers.discriminative`:
            fastai's `lr_max=slice(low, high)`.
        find_lr_kwargs: Optional dict of `find_lr` arguments, with
            `max_lr=None`.
        callbacks: Optional list of callbacks for `fit`.
        verbose: As for `fit`.
        **fit_kwargs: Any other `model.fit` argument (`shuffle`,
            `class_weight`, `sample_weight`, `validation_freq`, ...).

    Returns:
        The `History` of `fit`; `history.schedule` is the `OneCycle` and
            `history.finder_result` the range test's result (or None).

    Raises:
        ValueError: if the model is not compiled, an argument is out of
            range, the steps per epoch cannot be known, or `initial_epoch`
            is given (resume with `keras.callbacks.BackupAndRestore`).

    Example:

    ```python
    >>> x = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = keras_lr.fit_one_cycle(
    ...     model, x, y, epochs=3, max_lr=0.1, batch_size=50,
    ...     validation_split=0.2, verbose=0)
    >>> history.schedule.total_steps  # 3 epochs of ceil(160 / 50) steps
    12

    ```
    """
    _validation.require_type("model", model, keras.Model, "a compiled `keras.Model`")
    arguments = keras_private.compile_arguments(model)
    if arguments is None or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "fit_one_cycle needs a compiled model: call `model.compile(optimizer, "
            "loss, metrics)` first (the optimizer's class and settings are kept).")
    epochs = _validation.require_int("epochs", epochs, minimum=1)
    # Everything is checked before any training (the range test).
    if momentum is not None:
        _momentum_pair(momentum)
    check_fit_arguments(callbacks, verbose, multipliers, fit_kwargs, model)
    if multipliers is not None and model.built:
        LRMultiplier(keras.optimizers.SGD(), multipliers).check_keys(model)
    if fit_kwargs.get("initial_epoch", 0):
        raise ValueError(
            "fit_one_cycle runs the whole cycle from the optimizer's step 0; "
            "to resume an interrupted run, call it again with the same "
            "arguments and a `keras.callbacks.BackupAndRestore` in `callbacks`. "
            f"Received: initial_epoch={fit_kwargs['initial_epoch']!r}")
    if validation_data is not None:
        validation_split = 0.0  # as fit: validation_data wins
    steps = steps_per_epoch_of(
        x, y, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        validation_split=validation_split, sample_weight=fit_kwargs.get("sample_weight"))
    chosen = _BackedUpChoice.of(callbacks) if max_lr is None else None
    if chosen is not None and chosen.saved is not None:
        # A resumed run: the cycle of the interrupted one, not a new range
        # test on the fresh weights (BackupAndRestore loads the old ones).
        max_lr, div_factor = chosen.saved["max_lr"], chosen.saved["div_factor"]
        result = None
        if verbose != 0:
            keras_private.print_msg(
                f"fit_one_cycle: resuming the cycle of the interrupted run "
                f"(max_lr={max_lr:.3g}, from {chosen.path}).")
    else:
        max_lr, div_factor, result = _resolve_max_lr(
            max_lr, div_factor, model, x, y, batch_size, validation_split,
            find_lr_kwargs, 0 if verbose == 0 else 1)
        if chosen is not None:
            chosen.save(max_lr, div_factor)
    try:
        schedule = OneCycle(max_lr, epochs * steps, pct_start=pct_start,
                            div_factor=div_factor, final_div_factor=final_div_factor)
    except ValueError as e:
        raise ValueError(
            f"The one-cycle schedule for {epochs} epochs of {steps} steps cannot "
            f"be built: {e}") from None
    # The new optimizer's variables belong to the model's strategy (a
    # MirroredStrategy refuses variables made outside its scope).
    with strategy_scope(model):
        arguments["optimizer"] = one_cycle_optimizer(
            model.optimizer, schedule, momentum=momentum, multipliers=multipliers)
        model.compile(**arguments)
    if verbose != 0:
        keras_private.print_msg(describe_cycle(schedule, epochs, steps, momentum, multipliers,
                                               result))
    history = model.fit(
        x, y, epochs=epochs, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        validation_split=validation_split, validation_data=validation_data,
        callbacks=callbacks, verbose=verbose, **fit_kwargs)
    warn_if_weights_not_finite(model, "fit_one_cycle")
    history.schedule = schedule
    history.finder_result = result
    return history
