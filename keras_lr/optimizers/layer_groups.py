"""Multipliers for `LRMultiplier` from the structure of a model.

`discriminative` is fastai's `slice(low, high)` (learning rates spread
geometrically over layer groups); `layerwise_decay` is the layer-wise LR decay
used to fine-tune transformer encoders (BEiT, ELECTRA): the head at full
rate, each block below multiplied by `decay`.
"""

import re

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr.optimizers.lr_multiplier import layer_tree_owners
from keras_lr.optimizers.lr_multiplier import owning_layers

__all__ = ["discriminative", "layerwise_decay"]


def discriminative(model, lr_range, groups=None):
    """Discriminative learning rates: spread from the bottom group to the head.

    With `n` groups, bottom first, group `i` gets

    `multiplier_i = (low / high) ** ((n - 1 - i) / (n - 1))`

    so the head trains at `high` (multiplier 1) and the bottom group at
    `low`, geometrically in between, as fastai's `slice(low, high)`. Give the
    wrapped optimizer the learning rate `high`.

    Args:
        model: A built `keras.Model`.
        lr_range: `(low, high)` with `0 < low <= high`.
        groups: Optional. An integer `n`: the layers that hold weights
            (innermost, nested models such as a `keras.applications`
            backbone opened up), in the order of `model.trainable_variables`,
            cut into `n` consecutive groups of equal depth (numbers of
            layers; the first groups get one more when it does not divide). Or a list
            of layer groups, bottom first; each group a layer (a nested
            model included), a layer name, or a list of those (weightless
            layers such as `InputLayer` in a slice of `base.layers` are
            skipped). Defaults to one group per top-level layer that has
            trainable weights.

    Returns:
        A dict of multipliers for `LRMultiplier`, bottom group first. Keys are
        layer names where the name selects exactly that layer's variables
        (nested models included), otherwise a regular expression of the
        layer's variable paths.

    Raises:
        ValueError: if `lr_range` is not `(low, high)` with `0 < low <= high`,
            the model has no weights yet, a group is empty or has no
            trainable weights, a layer name is unknown, a layer is in two
            groups, or `groups` is an integer below 1 or above the number of
            layers with weights.

    Example:

    ```python
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(8, name="a"),
    ...     keras.layers.Dense(8, name="b"),
    ...     keras.layers.Dense(2, name="head"),
    ... ])
    >>> keras_lr.optimizers.discriminative(model, (1e-4, 1e-2))
    {'a': 0.01, 'b': 0.1, 'head': 1.0}

    ```
    """
    _require_model(model)
    if (not isinstance(lr_range, (tuple, list)) or len(lr_range) != 2):
        raise ValueError(
            "Argument `lr_range` must be a pair `(low, high)`. "
            f"Received: lr_range={lr_range!r}")
    low = _validation.require_positive("lr_range[0]", lr_range[0])
    high = _validation.require_positive("lr_range[1]", lr_range[1])
    if low > high:
        raise ValueError(
            "Argument `lr_range` must be `(low, high)` with low <= high. "
            f"Received: lr_range={lr_range!r}")
    groups = _resolve_groups(model, groups)
    n = len(groups)
    ratio = low / high
    multipliers = {}
    for i, layers in enumerate(groups):
        value = 1.0 if i == n - 1 else ratio ** ((n - 1 - i) / (n - 1))
        for layer in layers:
            multipliers[_layer_key(model, layer)] = _tidy(value)
    return multipliers


def layerwise_decay(model, decay, blocks=None):
    """Layer-wise learning-rate decay over a stack of blocks.

    With `L` blocks, bottom first, block `i` gets `decay ** (L - i)`: the top
    block `decay`, each block below `decay` times the one above. Weights
    above the last block (the head) keep multiplier 1; weights below the
    first block (embeddings, stem) get `decay ** (L + 1)`; weights between
    two blocks get the multiplier of the block below them. "Above" and
    "below" follow the order of `model.trainable_variables`.

    Args:
        model: A built `keras.Model`.
        decay: Float in (0, 1]. The factor between consecutive blocks.
        blocks: The blocks, bottom first: a list of layers or layer names, or
            a regular expression that block names match in full (e.g.
            `"encoder_block_\\d+"`), or `None` (the default) for one block per
            top-level layer with trainable weights, the last being the head.

    Returns:
        A dict of multipliers for `LRMultiplier`, bottom first.

    Raises:
        ValueError: if `decay` is not in (0, 1], the model has no weights
            yet, a block is unknown, has no trainable weights or is listed
            twice, or the regular expression matches no layer.

    Example:

    ```python
    >>> inputs = keras.Input((4,))
    >>> x = keras.layers.Dense(8, name="embed")(inputs)
    >>> for i in range(3):
    ...     x = keras.layers.Dense(8, name=f"block_{i}")(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    >>> keras_lr.optimizers.layerwise_decay(model, 0.5, blocks=r"block_\\d")
    {'block_0': 0.125, 'block_1': 0.25, 'block_2': 0.5, 'embed': 0.0625}

    ```
    """
    _require_model(model)
    decay = _validation.require_number(
        "decay", decay, minimum=0, maximum=1, min_inclusive=False)
    if blocks is None:
        groups = _resolve_groups(model, None)
        n = len(groups)
        return {_layer_key(model, layer): _tidy(decay ** (n - 1 - i))
                for i, (layer,) in enumerate(groups)}
    if isinstance(blocks, str):
        try:
            pattern = re.compile(blocks)
        except re.error as e:
            raise ValueError(
                f"Argument `blocks` is not a valid regular expression: "
                f"{blocks!r} ({e})") from None
        found = [layer for layer in _all_layers(model)
                 if pattern.fullmatch(layer.name)]
        if not found:
            raise ValueError(
                f"Argument `blocks` matches no layer name: {blocks!r}. Layer "
                f"names: {[layer.name for layer in _all_layers(model)]}")
        blocks = found
    if not isinstance(blocks, (list, tuple)):
        raise TypeError(
            "Argument `blocks` must be a list of layers or layer names, a regular "
            f"expression, or None. Received: blocks={blocks!r}")
    groups = _resolve_groups(model, [[block] for block in blocks], "blocks")
    count = len(groups)
    block_of = {}
    for i, (layer,) in enumerate(groups):
        for variable in layer.trainable_variables:
            block_of[id(variable)] = i
    multipliers = {_layer_key(model, layer): _tidy(decay ** (count - i))
                   for i, (layer,) in enumerate(groups)}
    # Weights outside the blocks: by position among the model's variables.
    owners = _innermost_owners(model)
    current = None  # the block below, None before the first block
    last_block_seen = max(
        i for i, v in enumerate(model.trainable_variables) if id(v) in block_of)
    outside = {}
    for position, variable in enumerate(model.trainable_variables):
        if id(variable) in block_of:
            current = block_of[id(variable)]
            continue
        if position > last_block_seen:
            continue  # the head: default multiplier 1
        value = decay ** (count + 1) if current is None else decay ** (count - current)
        layer = owners[id(variable)]
        outside.setdefault(id(layer), (layer, _tidy(value)))
    for layer, value in outside.values():
        multipliers[_layer_key(model, layer)] = value
    return multipliers


def _tidy(value):
    # 0.1 ** 1 is 0.1, but (1e-4 / 1e-2) ** 0.5 is 0.09999999999999999.
    return float(f"{value:.12g}")


def _all_layers(model):
    """Every layer of the model, nested ones included, parents first."""
    if not isinstance(model, keras.Model):  # a plain layer: itself and below
        return [model] + [layer for layer in keras_private.flatten_layers(model)
                          if not isinstance(layer, keras.layers.InputLayer)]
    return [layer for layer in keras_private.flatten_layers(model)
            if not isinstance(layer, keras.layers.InputLayer)]


def _innermost_owners(model):
    """`id(variable)` -> the innermost layer that owns it."""
    owners = {}
    # Parents come before their children, so children overwrite.
    for layer in _all_layers(model):
        for variable in layer.trainable_variables:
            owners[id(variable)] = layer
    return owners


def weighted_layers(model):
    """The innermost layers of `model` (a model or any layer) that own
    trainable weights, in the order of `model.trainable_variables`."""
    return _weighted_leaves(model)


def split_layers(layers, count):
    """`layers` cut into `count` consecutive groups of equal depth (the
    first groups one longer when it does not divide)."""
    size, extra = divmod(len(layers), count)
    groups, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        groups.append(list(layers[start:end]))
        start = end
    return groups


def _weighted_leaves(model):
    """The innermost layers that own trainable weights, in the order of
    `model.trainable_variables`."""
    owners = _innermost_owners(model)
    leaves = {}
    for variable in model.trainable_variables:
        layer = owners.get(id(variable))
        if layer is not None:
            leaves.setdefault(id(layer), layer)
    return list(leaves.values())


def _split(model, count, argument):
    if isinstance(count, bool) or count < 1:
        raise ValueError(
            f"Argument `{argument}` must be >= 1 as an integer. "
            f"Received: {argument}={count!r}")
    leaves = _weighted_leaves(model)
    if count > len(leaves):
        raise ValueError(
            f"Argument `{argument}` must be at most the number of layers with "
            f"trainable weights, {len(leaves)}. Received: {argument}={count!r}")
    return split_layers(leaves, count)


def _resolve_groups(model, groups, argument="groups"):
    if not model.built or not model.trainable_variables:
        raise ValueError(
            "The model has no trainable weights yet: build it first (call it "
            "on data, or create it with a `keras.Input`).")
    layers = _all_layers(model)
    by_name = {layer.name: layer for layer in layers}
    if groups is None:
        groups = [[layer] for layer in model.layers if layer.trainable_variables]
    elif isinstance(groups, int) and not isinstance(groups, bool):
        groups = _split(model, groups, argument)
    if not isinstance(groups, (list, tuple)) or not groups:
        raise ValueError(
            f"Argument `{argument}` must be a non-empty list. "
            f"Received: {argument}={groups!r}")
    resolved = []
    seen = {}
    for i, group in enumerate(groups):
        members = list(group) if isinstance(group, (list, tuple)) else [group]
        if not members:
            raise ValueError(f"Argument `{argument}` has an empty group at index {i}.")
        resolved_group = []
        for member in members:
            layer = by_name.get(member) if isinstance(member, str) else member
            if layer is None or all(layer is not known for known in layers):
                if isinstance(member, keras.layers.InputLayer):
                    continue  # weightless, as in a slice of `base.layers`
                raise ValueError(
                    f"Argument `{argument}` names a layer that is not in the "
                    f"model: {member!r}. Layer names: {list(by_name)}")
            if not layer.trainable_variables:
                if len(members) > 1:
                    continue  # a weightless layer in a slice of layers
                raise ValueError(
                    f"Argument `{argument}` has a layer without trainable "
                    f"weights: {layer.name!r}.")
            if id(layer) in seen:
                raise ValueError(
                    f"Argument `{argument}` lists the layer {layer.name!r} "
                    "twice.")
            seen[id(layer)] = i
            resolved_group.append(layer)
        if not resolved_group:
            raise ValueError(
                f"Argument `{argument}` has a group without trainable weights "
                f"at index {i}: {[getattr(m, 'name', m) for m in members]}")
        resolved.append(resolved_group)
    return resolved


def _layer_key(model, layer):
    """A key that selects exactly `layer`'s trainable variables."""
    own = {id(v) for v in layer.trainable_variables}
    # LRMultiplier's rule for a layer-name key.
    tree = layer_tree_owners(model)
    selected = {id(v) for v in model.trainable_variables
                if layer.name in owning_layers(v, tree)}
    if selected == own:
        return layer.name
    return "|".join(re.escape(v.path) for v in layer.trainable_variables)


def _require_model(model):
    # (Built or not is `_resolve_groups`'s check.)
    _validation.require_type("model", model, keras.Model, "a built `keras.Model`")
