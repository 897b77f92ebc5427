"""`LRHyperModel`: a keras-tuner hypermodel that tunes the learning rate."""

import math

import keras

from keras_lr import _validation
from keras_lr._core.data import steps_per_epoch_of
from keras_lr._core.learning_rate import strategy_scope
from keras_lr.schedules import OneCycle
from keras_lr.tuning._kt import kt
from keras_lr.tuning.divergence import require_finite_history
from keras_lr.tuning.divergence import validate_factor
from keras_lr.tuning.divergence import with_divergence_stop

__all__ = ["LRHyperModel", "steps_per_epoch"]

LEARNING_RATE = "learning_rate"
SCHEDULE = "schedule"


def _one_cycle(learning_rate, total_steps):
    return OneCycle(max_learning_rate=learning_rate, total_steps=total_steps)


def _cosine(learning_rate, total_steps):
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)


BUILTIN_SCHEDULES = {"constant": None, "one_cycle": _one_cycle, "cosine": _cosine}
DEFAULT_SCHEDULES = ("constant", "one_cycle", "cosine")


def _schedule_factories(schedules):
    if isinstance(schedules, str):
        schedules = (schedules,)
    if isinstance(schedules, dict):
        factories = dict(schedules)
        for name, factory in factories.items():
            if not isinstance(name, str) or not (factory is None or callable(factory)):
                raise TypeError(
                    "Argument `schedules` must map names to `None` (constant) or "
                    "to callables `(learning_rate, total_steps) -> schedule`. "
                    f"Received: schedules={schedules!r}")
    elif not isinstance(schedules, (list, tuple)):
        raise TypeError(
            "Argument `schedules` must be a name, a list of names among "
            f"{sorted(BUILTIN_SCHEDULES)}, or a dict of factories. "
            f"Received: schedules={schedules!r} of type {type(schedules).__name__}")
    else:
        schedules = tuple(schedules)
        for name in schedules:
            _validation.require_one_of("schedules", name, tuple(BUILTIN_SCHEDULES))
        factories = {name: BUILTIN_SCHEDULES[name] for name in schedules}
    if not factories:
        raise ValueError(
            f"Argument `schedules` must name at least one schedule. "
            f"Received: schedules={schedules!r}")
    return factories


def _require_dict(name, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(
            f"Argument `{name}` must be a dict of keyword arguments or None. "
            f"Received: {name}={value!r} of type {type(value).__name__}")
    return value


def _optimizer_factory(optimizer):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Argument `optimizer` must be an optimizer name, class or factory "
            "`(learning_rate, **kwargs) -> optimizer`, not an instance: every "
            f"trial needs a fresh optimizer. Received: optimizer={optimizer!r}")
    if isinstance(optimizer, str):
        return type(keras.optimizers.get(optimizer))  # ValueError if unknown
    if callable(optimizer):
        return optimizer
    raise TypeError(
        "Argument `optimizer` must be an optimizer name (e.g. 'adam'), an "
        f"optimizer class or a callable. Received: optimizer={optimizer!r}")


def steps_per_epoch(fit_args, fit_kwargs):
    """How many steps one epoch of `model.fit(*fit_args, **fit_kwargs)` runs.

    The count `fit` itself makes (`keras_lr.workflows.steps_per_epoch_of`:
    Keras's validation split and data adapter), so a trial's schedule ends
    with its last step.

    Raises:
        ValueError: when it cannot be known (a dataset of unknown length
            without `steps_per_epoch`).
    """
    names = ("x", "y", "batch_size")
    given = dict(zip(names, fit_args))
    given.update({k: v for k, v in fit_kwargs.items() if k in names})
    if given.get("x") is None and not fit_kwargs.get("steps_per_epoch"):
        raise ValueError("`fit` received no training data (`x`).")
    try:
        return steps_per_epoch_of(
            given.get("x"), given.get("y"), batch_size=given.get("batch_size"),
            steps_per_epoch=fit_kwargs.get("steps_per_epoch"),
            validation_split=fit_kwargs.get("validation_split") or 0.0,
            sample_weight=fit_kwargs.get("sample_weight"))
    except ValueError as e:
        raise ValueError(
            f"A schedule cannot be sized for this search: {e} Pass `steps_per_epoch` "
            "to `search`.") from None


class LRHyperModel(kt.HyperModel):
    """A keras-tuner `HyperModel` that tunes the learning rate (log scale).

    It wraps a function that returns an **uncompiled** model and compiles
    it with `optimizer` and the compile arguments given here. Every trial
    draws:

    - `learning_rate`: `hp.Float("learning_rate", min_lr, max_lr,
      sampling="log")`;
    - `schedule` (only when `schedules` names more than one): how the LR
      moves during the trial, `hp.Choice("schedule", ...)`. `"constant"`
      keeps `learning_rate`; `"one_cycle"` is `keras_lr.schedules.OneCycle`
      peaking at it; `"cosine"` is `keras.optimizers.schedules.CosineDecay`
      from it. A schedule is sized in `fit`, from the trial's real number of
      steps: `(epochs - initial_epoch) * steps_per_epoch`, so it also fits
      Hyperband's budgets (each round's `fit` gets its own full cycle);
    - the optimizer settings `tune_optimizer(hp)` returns, if given.

    `fit` also adds a `keras_lr.tuning.DivergenceStop` (unless the callbacks
    already hold one), so a trial whose loss diverges ends at once as a
    failed trial, with the reason.

    It works with `keras_lr.tuning.CoarseToFine` and with keras-tuner's own
    `RandomSearch`, `BayesianOptimization` and `Hyperband`. With those, set
    `max_consecutive_failed_trials` high enough (keras-tuner ends the search
    after 3 failed trials in a row, which a wide LR range can produce) and
    read the result with `keras_lr.tuning.best_hyperparameters`.

    Args:
        build_model: A function `build_model(hp) -> keras.Model` returning
            an uncompiled model (it may draw its own hyperparameters from
            `hp`), or a `keras_tuner.HyperModel` whose `build` does.
        optimizer: An optimizer name (`"adam"`, `"sgd"`, ...), an optimizer
            class, or a callable `(learning_rate, **kwargs) -> optimizer`
            (e.g. to wrap it in `keras_lr.optimizers.LRMultiplier`).
            Defaults to `"adam"`.
        min_lr: Float > 0. Defaults to `1e-6`.
        max_lr: Float > `min_lr`. Defaults to `1.0`.
        schedules: Names among `"constant"`, `"one_cycle"`, `"cosine"`, or a
            dict `{name: factory}` with `factory(learning_rate, total_steps)
            -> LearningRateSchedule` (or `None` for constant). The first is
            the `schedule` choice's default value. Defaults to `None`: the
            three built-ins for keras-tuner's tuners, and `"constant"` under
            `keras_lr.tuning.CoarseToFine`, which searches the rate only
            (it says so; pass one name to choose another).
        loss: The loss, as for `model.compile`. Required.
        metrics: As for `model.compile`. Defaults to `None`.
        optimizer_kwargs: Dict of fixed optimizer arguments (e.g.
            `{"momentum": 0.9}`). Defaults to `None`.
        tune_optimizer: Optional callable `hp -> dict` of optimizer
            arguments drawn from `hp`, e.g. `lambda hp: {"weight_decay":
            hp.Float("weight_decay", 1e-5, 1e-2, sampling="log")}`.
        compile_kwargs: Dict of other `model.compile` arguments
            (`jit_compile`, `steps_per_execution`, ...). Defaults to `None`.
        divergence_factor: Float > 1, or `None` to add no
            `DivergenceStop`. Defaults to `4.0`.
        name: Optional name of the hypermodel.

    Raises:
        ValueError, TypeError: for an invalid argument.

    Example:

    ```python
    def build_model(hp):
        return keras.Sequential([keras.Input((64,)),
                                 keras.layers.Dense(32, activation="relu"),
                                 keras.layers.Dense(10)])

    hypermodel = keras_lr.tuning.LRHyperModel(
        build_model, optimizer="adam", min_lr=1e-5, max_lr=1.0,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    tuner = keras_lr.tuning.CoarseToFine(hypermodel, objective="val_accuracy",
                                         max_trials=10)
    ```
    """

    def __init__(self, build_model, optimizer="adam", min_lr=1e-6, max_lr=1.0,
                 schedules=None, loss=None,
                 metrics=None, optimizer_kwargs=None, tune_optimizer=None,
                 compile_kwargs=None, divergence_factor=4.0, name=None):
        super().__init__(name=name)
        self._arguments = dict(
            build_model=build_model, optimizer=optimizer, min_lr=min_lr, max_lr=max_lr,
            schedules=schedules, loss=loss, metrics=metrics,
            optimizer_kwargs=optimizer_kwargs, tune_optimizer=tune_optimizer,
            compile_kwargs=compile_kwargs, divergence_factor=divergence_factor, name=name)
        if not (callable(build_model) or isinstance(build_model, kt.HyperModel)):
            raise TypeError(
                "Argument `build_model` must be a function `build_model(hp)` "
                "or a `keras_tuner.HyperModel`. "
                f"Received: build_model={build_model!r}")
        self.build_model = build_model
        self.optimizer = optimizer
        self._make_optimizer = _optimizer_factory(optimizer)
        self.min_lr = _validation.require_positive("min_lr", min_lr)
        self.max_lr = _validation.require_positive("max_lr", max_lr)
        if not self.max_lr > self.min_lr:
            raise ValueError(
                f"Argument `max_lr` must be > min_lr={self.min_lr!r}. "
                f"Received: max_lr={max_lr!r}")
        self.schedules = _schedule_factories(DEFAULT_SCHEDULES if schedules is None
                                             else schedules)
        # Whether the schedules are the default, which CoarseToFine (it
        # searches the rate only) narrows to "constant" instead of refusing.
        self.schedules_by_default = schedules is None
        if loss is None:
            raise ValueError(
                "Argument `loss` is required: `build_model` returns an "
                "uncompiled model and the hypermodel compiles it. Received: loss=None")
        self.loss = loss
        self.metrics = metrics
        self.optimizer_kwargs = dict(_require_dict("optimizer_kwargs", optimizer_kwargs))
        if "learning_rate" in self.optimizer_kwargs:
            raise ValueError(
                "Argument `optimizer_kwargs` must not set `learning_rate`: it is "
                "the tuned hyperparameter (bound it with `min_lr` and `max_lr`). "
                f"Received: optimizer_kwargs={optimizer_kwargs!r}")
        if tune_optimizer is not None and not callable(tune_optimizer):
            raise TypeError(
                "Argument `tune_optimizer` must be a callable `hp -> dict`. "
                f"Received: tune_optimizer={tune_optimizer!r}")
        self.tune_optimizer = tune_optimizer
        self.compile_kwargs = dict(_require_dict("compile_kwargs", compile_kwargs))
        for key in ("optimizer", "loss", "metrics"):
            if key in self.compile_kwargs:
                raise ValueError(
                    f"Argument `compile_kwargs` must not hold `{key}`: pass it "
                    f"as the `{key}` argument. Received: compile_kwargs={compile_kwargs!r}")
        self.divergence_factor = validate_factor(divergence_factor)

    def with_schedules(self, schedules):
        """A new hypermodel with these arguments but `schedules`.

        Args:
            schedules: As for the constructor.

        Returns:
            A new `LRHyperModel`; this one is left as it is.
        """
        return LRHyperModel(**dict(self._arguments, schedules=schedules))

    def _hyperparameters(self, hp):
        learning_rate = hp.Float(LEARNING_RATE, self.min_lr, self.max_lr, sampling="log")
        names = list(self.schedules)
        schedule = hp.Choice(SCHEDULE, names) if len(names) > 1 else names[0]
        kwargs = dict(self.optimizer_kwargs)
        if self.tune_optimizer is not None:
            tuned = self.tune_optimizer(hp)
            if not isinstance(tuned, dict):
                raise TypeError(
                    f"`tune_optimizer(hp)` must return a dict of optimizer "
                    f"arguments. Received: {tuned!r}")
            kwargs.update(tuned)
        return learning_rate, schedule, kwargs

    def _compile(self, model, learning_rate, kwargs):
        # In the model's strategy scope: `fit` recompiles outside the scope
        # keras-tuner builds in (`distribution_strategy=`), and an optimizer
        # made outside it cannot update mirrored variables.
        with strategy_scope(model):
            model.compile(
                optimizer=self._make_optimizer(learning_rate=learning_rate, **kwargs),
                loss=self.loss, metrics=self.metrics, **self.compile_kwargs)

    def build(self, hp):
        """Builds the model and compiles it at the trial's (constant) LR."""
        learning_rate, _, kwargs = self._hyperparameters(hp)
        if isinstance(self.build_model, kt.HyperModel):
            model = self.build_model.build(hp)
        else:
            model = self.build_model(hp)
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"`build_model(hp)` must return a `keras.Model`. Received: {model!r}")
        if getattr(model, "optimizer", None) is not None:
            raise ValueError(
                "`build_model(hp)` must return an uncompiled model: LRHyperModel "
                "compiles it with the tuned learning rate (give `loss`, `metrics` "
                "and `compile_kwargs` to LRHyperModel).")
        self._compile(model, learning_rate, kwargs)
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Sizes the trial's schedule, adds `DivergenceStop`, and trains."""
        learning_rate, schedule, optimizer_kwargs = self._hyperparameters(hp)
        factory = self.schedules[schedule]
        if factory is not None:
            epochs = int(kwargs.get("epochs", 1)) - int(kwargs.get("initial_epoch", 0))
            total_steps = max(1, epochs * steps_per_epoch(args, kwargs))
            try:
                sized = factory(learning_rate, total_steps)
            except ValueError as e:
                raise ValueError(
                    f"LRHyperModel: the {schedule!r} schedule cannot be sized to "
                    f"this trial's {total_steps} training steps ({epochs} epochs x "
                    f"{total_steps // max(epochs, 1)} steps): {e} Train the trials "
                    f"longer, or leave {schedule!r} out of `schedules`.") from e
            self._compile(model, sized, optimizer_kwargs)
        callbacks = with_divergence_stop(kwargs.pop("callbacks", None), self.divergence_factor)
        history = model.fit(*args, callbacks=callbacks, **kwargs)
        if self.divergence_factor is not None:
            require_finite_history(history, ["loss", "val_loss"])
        return history
