"""`LRMultiplier`: per-layer learning rates with one optimizer and one state."""

import collections.abc
import re
import warnings

import keras

from keras_lr._core import keras_private
from keras_lr.optimizers._wrapper import OptimizerWrapper
from keras_lr.optimizers._wrapper import learning_rate_owner
from keras_lr.schedules._common import LearningRateSchedule
from keras_lr.schedules._common import check_schedule_or_number
from keras_lr.schedules._common import deserialize_child
from keras_lr.schedules._common import evaluate
from keras_lr.schedules._common import serialize_child

__all__ = ["LRMultiplier", "layer_names", "layer_tree_owners", "owning_layers"]


def layer_names(variables, tree_owners=None):
    """The layer names a key can select, in order of appearance."""
    names = {}
    for variable in variables:
        for part in owning_layers(variable, tree_owners):
            names.setdefault(part, None)
    return list(names)


def owning_layers(variable, tree_owners=None):
    """The names of the layers that own `variable`: those on its path, and,
    with `tree_owners` (from `layer_tree_owners(model)`), every layer or
    nested model of the model's layer tree that holds it. Keras 3 paths do
    not contain the name of a nested functional model (a
    `keras.applications` backbone inside a model), so the tree is needed
    for those."""
    names = variable.path.split("/")[:-1]
    if tree_owners:
        names = names + [n for n in tree_owners.get(id(variable), ()) if n not in names]
    return names


def layer_tree_owners(model):
    """`{id(variable): (layer names, outermost first)}` for every trainable
    variable of `model`, over its whole layer tree (nested models
    included, the model itself excluded)."""
    owners = {}
    for layer in keras_private.flatten_layers(model):
        for variable in layer.trainable_variables:
            names = owners.setdefault(id(variable), [])
            if layer.name not in names:
                names.append(layer.name)
    return {key: tuple(names) for key, names in owners.items()}


@keras.saving.register_keras_serializable(package="keras_lr")
class LRMultiplier(OptimizerWrapper):
    """Per-layer learning rates: wraps an optimizer and scales each variable's LR.

    A variable with multiplier `m` is updated exactly as the wrapped optimizer
    would update it with learning rate `lr(step) * m(step)`:

    `update(variable) = inner_update(gradient, variable, lr(step) * m(step))`

    It scales the *learning rate*, not the gradient, so it is right for
    adaptive optimizers too (Adam's update does not depend on the gradient's
    scale). The inner optimizer keeps its own learning rate (float or
    schedule), its state and its `iterations`: one optimizer, one state, one
    checkpoint, and every keras-lr tool that changes "the" learning rate (the
    LR finder, `ReduceLROnPlateau`, ...) changes it for all layers at once,
    keeping the ratios.

    **Which multiplier a variable gets.** A key selects a trainable variable
    when it equals the name of a layer that owns the variable (any layer on
    its path, e.g. `"encoder"` or `"dense_1"` for `"encoder/dense_1/kernel"`,
    or any layer or nested model of the model's layer tree that holds it,
    e.g. the name of a `keras.applications` backbone inside the model,
    which Keras 3 leaves out of the paths), or when
    `re.fullmatch(key, variable.path)` matches. The layer tree is read from
    the model that builds the optimizer (`fit`, `load_model`, or
    `variable_multipliers(model)`). Keys are tried in
    the order of `multipliers`; **the first key that selects a variable
    wins**, so put specific keys before general ones. Variables that no key
    selects get `default_multiplier`. `variable_multipliers()` shows the
    result.

    **Weight decay.** Decoupled weight decay (`weight_decay=` of AdamW, SGD,
    ...) is part of the update and scales with it:
    `variable -= variable * weight_decay * lr * m`. A frozen variable does not
    decay.

    **Freezing.** A multiplier of `0` (a float) skips the variable's update
    entirely, its optimizer slots included; a schedule that reaches 0 gives a
    zero learning rate for those steps (the slots still update, as they
    would with a zero learning rate).

    **Learning-rate-free optimizers** (`Prodigy`, `DAdaptAdam`, `DoG`,
    `DoWG`, `ScheduleFreeAdamW`, `ScheduleFreeSGD`): their step size is one
    estimate shared by all layers, made from the variables that train (a
    frozen layer takes no part in it, as a parameter group at `lr=0` in
    the PyTorch references). A multiplier `m` scales that layer's step
    (Schedule-Free: its `z` step) by `m`, the estimate staying shared: the
    ratios between layers are the ones you set, the overall size is the
    optimizer's. (The references allow only 0 or the common rate per
    group; any other ratio is keras-lr's extension.)

    Args:
        optimizer: The Keras optimizer to wrap (SGD, Adam, AdamW, Nadam,
            RMSprop, Adagrad, Adadelta, Adamax, Lion, Adafactor, ...). Its
            learning rate applies on top of the multipliers.
        multipliers: Dict mapping keys (layer names or regular expressions on
            `variable.path`) to multipliers: floats >= 0 or
            `LearningRateSchedule`s of the optimizer step.
        default_multiplier: Float >= 0 or `LearningRateSchedule`. The
            multiplier of variables that no key selects. Defaults to `1.0`.
        name: String. Defaults to `"lr_multiplier"`.

    Raises:
        TypeError: if `optimizer` is not a Keras optimizer, `multipliers` is
            not a dict, a key is not a string or a value is neither a number
            nor a schedule.
        ValueError: if a multiplier is negative or not finite, or a key is not
            a valid regular expression; at build (the first training step), if
            a key selects no trainable variable (the message lists the layer
            names; `variable_multipliers(model)` warns about them before
            training).

    Notes:
        Adafactor with `relative_step=True` caps the (multiplied) learning
        rate at `1/sqrt(step)`, as it caps its own. An optimizer that
        overrides Keras's weight decay (Muon) cannot have its decay scaled:
        with `weight_decay` set and a multiplier other than 1 it raises at
        build.

    Example:

    ```python
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(8, name="body"),
    ...     keras.layers.Dense(2, name="head"),
    ... ], name="net")
    >>> optimizer = keras_lr.optimizers.LRMultiplier(
    ...     keras.optimizers.Adam(1e-3), {"body": 0.1})
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> optimizer.variable_multipliers(model.trainable_variables)
    {'net/body/kernel': 0.1, 'net/body/bias': 0.1, 'net/head/kernel': 1.0, 'net/head/bias': 1.0}

    ```
    """

    _wraps_step_size_estimators = True

    def __init__(self, optimizer, multipliers, default_multiplier=1.0,
                 name="lr_multiplier"):
        if not isinstance(multipliers, collections.abc.Mapping):
            raise TypeError(
                "Argument `multipliers` must be a dict mapping layer names or "
                "regular expressions to multipliers. "
                f"Received: multipliers={multipliers!r} of type "
                f"{type(multipliers).__name__}")
        rules = []
        for key, value in multipliers.items():
            if not isinstance(key, str):
                raise TypeError(
                    "Argument `multipliers` must have string keys (layer names "
                    f"or regular expressions). Received the key {key!r} of "
                    f"type {type(key).__name__}")
            try:
                pattern = re.compile(key)
            except re.error as e:
                raise ValueError(
                    f"Argument `multipliers` has a key that is neither a layer "
                    f"name nor a valid regular expression: {key!r} ({e})"
                ) from None
            value = check_schedule_or_number(f"multipliers[{key!r}]", value)
            rules.append((key, pattern, value))
        default_multiplier = check_schedule_or_number(
            "default_multiplier", default_multiplier)
        super().__init__(optimizer, name=name)
        # Plain Python state (not tracked: nothing here is a variable).
        object.__setattr__(self, "_rules", tuple(rules))
        object.__setattr__(self, "_default", default_multiplier)

    @property
    def multipliers(self):
        """The multipliers dict, in the order keys are tried."""
        return {key: value for key, _, value in self._rules}

    @property
    def default_multiplier(self):
        return self._default

    def _select(self, variable, tree_owners=None):
        """(key, multiplier) for `variable`; key is None for the default."""
        owners = owning_layers(variable, tree_owners)
        for key, pattern, value in self._rules:
            if key in owners or pattern.fullmatch(variable.path):
                return key, value
        return None, self._default

    def variable_multipliers(self, variables=None):
        """The multiplier each variable gets, keyed by `variable.path`.

        Warns (`UserWarning`) about keys that select no variable.

        Args:
            variables: A `keras.Model` (its trainable variables, with layer
                names from its whole layer tree: the way to check keys that
                name a nested model), or a list of variables (e.g.
                `model.trainable_variables`: keys are then matched against
                the paths, and against the layer tree the optimizer was
                built with). Defaults to the variables the optimizer was
                built with.

        Returns:
            A dict `{variable.path: multiplier}` (a float or a schedule).
        """
        tree_owners = getattr(self, "_tree_owners", None)
        if isinstance(variables, keras.Model):
            model = variables
            if not model.built:
                raise ValueError(
                    f"The model {model.name!r} is not built yet, so it has no "
                    "variables to resolve: build it first.")
            tree_owners = layer_tree_owners(model)
            variables = model.trainable_variables
        elif variables is None:
            if not self.built:
                raise ValueError(
                    "The optimizer is not built yet: pass the model or its "
                    "variables, e.g. `variable_multipliers(model)`.")
            variables = keras_private.trainable_variables(self)
        selected = {v.path: self._select(v, tree_owners) for v in variables}
        unused = self._unused_keys(key for key, _ in selected.values())
        if unused:
            warnings.warn(
                f"LRMultiplier: the keys {unused} select no trainable "
                "variable, so they change nothing. Layer names: "
                f"{layer_names(variables, tree_owners)}", stacklevel=2)
        return {path: value for path, (_, value) in selected.items()}

    def check_keys(self, model):
        """Raises now what the first training step would: keys that select
        no trainable variable of the built `model` (its whole layer tree).

        Raises:
            ValueError: naming the unused keys, the layer names and the
                variable paths.
        """
        tree_owners = layer_tree_owners(model)
        variables = model.trainable_variables
        unused = self._unused_keys(self._select(v, tree_owners)[0] for v in variables)
        if unused:
            raise _unused_keys_error(unused, variables, tree_owners)

    def _unused_keys(self, used):
        used = set(used)
        return [key for key, _, _ in self._rules if key not in used]

    def _build_own_variables(self):
        # One variable per distinct schedule multiplier, set once per step.
        schedules = []
        for value in [value for _, _, value in self._rules] + [self._default]:
            if isinstance(value, LearningRateSchedule) and all(
                    value is not s for s in schedules):
                schedules.append(value)
        object.__setattr__(self, "_schedules", tuple(schedules))
        object.__setattr__(self, "_schedule_values", tuple(
            self.add_step_value(f"multiplier_{i}") for i in range(len(schedules))))

    def _before_apply(self, base):
        for schedule, variable in zip(self._schedules, self._schedule_values):
            variable.assign(evaluate(schedule, base.iterations))

    def _check_inner(self, base):
        variables = keras_private.trainable_variables(base)
        model = keras_private.model_building(self)
        tree_owners = layer_tree_owners(model) if model is not None else None
        # Plain Python state, out of Keras's attribute tracking.
        object.__setattr__(self, "_tree_owners", tree_owners)
        selected = [self._select(v, tree_owners) for v in variables]
        unused = self._unused_keys(key for key, _ in selected)
        if unused:
            hint = "" if model is not None else (
                " (The optimizer was built outside `fit`, so the names of "
                "nested models, which Keras 3 leaves out of variable paths, "
                "were not available: let `fit` build it.)")
            raise _unused_keys_error(unused, variables, tree_owners, hint)
        # Floats stay Python floats; a schedule is read from its step variable.
        value_of = {id(s): v for s, v in zip(self._schedules, self._schedule_values)}
        table = tuple(value_of.get(id(value), value) for _, value in selected)
        if base.weight_decay is not None and not keras_private.has_standard_weight_decay(
                base) and any(not _is_one(m) for m in table):
            raise ValueError(
                f"{type(base).__name__} applies its own weight decay, "
                "which LRMultiplier cannot scale; set `weight_decay=None` "
                "or use multipliers of 1.")
        # Plain Python state, out of Keras's attribute tracking.
        object.__setattr__(self, "_table", table)

    def _multiplier(self, variable):
        return self._table[keras_private.variable_index(
            learning_rate_owner(self), variable)]

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": self._inner_config(),
            "multipliers": {
                key: serialize_child(value) for key, _, value in self._rules},
            "default_multiplier": serialize_child(self._default),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = cls._deserialize_inner(
            config["optimizer"], custom_objects)
        config["multipliers"] = {
            key: deserialize_child(value)
            for key, value in config["multipliers"].items()}
        config["default_multiplier"] = deserialize_child(
            config["default_multiplier"])
        return cls(**config)


def _is_one(multiplier):
    return isinstance(multiplier, float) and multiplier == 1


def _unused_keys_error(unused, variables, tree_owners, hint=""):
    return ValueError(
        f"Argument `multipliers` has keys that select no trainable "
        f"variable: {unused}. A key selects a variable when it equals "
        "the name of a layer that owns it, or when "
        "`re.fullmatch(key, variable.path)` matches. Layer names: "
        f"{layer_names(variables, tree_owners)}. Variable paths: "
        f"{[v.path for v in variables]}{hint}")
