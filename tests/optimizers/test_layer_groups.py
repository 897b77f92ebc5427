"""`discriminative` and `layerwise_decay`: multipliers from a model's structure."""

import keras
import numpy as np
import pytest

from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import discriminative
from keras_lr.optimizers import layerwise_decay


def fastai_even_mults(start, stop, n):
    """fastai's `even_mults` (fastai/torch_core.py), the LRs of `slice(start, stop)`."""
    if n == 1:
        return [stop]
    mult = stop / start
    step = mult ** (1 / (n - 1))
    return [start * step ** i for i in range(n)]


def stack(names, width=4):
    inputs = keras.Input((3,))
    x = inputs
    for name in names:
        x = keras.layers.Dense(width, name=name)(x)
    return keras.Model(inputs, x)


def resolved(model, multipliers):
    """{variable path: multiplier} as LRMultiplier resolves the keys."""
    optimizer = LRMultiplier(keras.optimizers.SGD(), multipliers)
    return optimizer.variable_multipliers(model.trainable_variables)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_discriminative_matches_fastai_slice(n, fresh_session):
    names = [f"layer_{i}" for i in range(n)]
    model = stack(names)
    low, high = 3e-5, 2e-3
    multipliers = discriminative(model, (low, high))
    assert list(multipliers) == names
    expected = np.array(fastai_even_mults(low, high, n)) / high
    np.testing.assert_allclose([multipliers[name] for name in names], expected, rtol=1e-10)
    assert multipliers[names[-1]] == 1.0


def test_discriminative_with_groups_and_a_nested_model(fresh_session):
    encoder = keras.Sequential([keras.layers.Dense(4, name="e1"), keras.layers.Dense(4, name="e2")],
                               name="encoder")
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="stem")(inputs)
    x = encoder(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    # Default groups: the top-level layers, the encoder as one group.
    assert discriminative(model, (1e-3, 1e-1)) == {"stem": 0.01, "encoder": 0.1, "head": 1.0}
    groups = [["stem", model.get_layer("encoder").get_layer("e1")], "e2", "head"]
    multipliers = discriminative(model, (1e-4, 1e-2), groups=groups)
    assert multipliers == {"stem": 0.01, "e1": 0.01, "e2": 0.1, "head": 1.0}
    by_path = resolved(model, multipliers)
    assert by_path["encoder/e1/kernel"] == 0.01
    assert by_path["encoder/e2/bias"] == 0.1
    assert by_path["head/kernel"] == 1.0


def test_keys_fall_back_to_exact_paths_when_a_name_is_ambiguous(fresh_session):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = keras.layers.Dense(4, name="proj")

        def call(self, x):
            return self.proj(x)

    inputs = keras.Input((4,))
    x = Block(name="block_0")(inputs)
    x = Block(name="block_1")(x)
    model = keras.Model(inputs, x)
    inner_proj = model.get_layer("block_0").proj
    multipliers = discriminative(model, (0.1, 1.0), groups=[inner_proj, "block_1"])
    # "proj" would also select block_1's variables: the key is block_0's paths.
    key = next(iter(multipliers))
    assert key != "proj"
    assert resolved(model, multipliers) == {
        "block_0/proj/kernel": 0.1, "block_0/proj/bias": 0.1,
        "block_1/proj/kernel": 1.0, "block_1/proj/bias": 1.0}


def transformer_like():
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="embedding")(inputs)
    x = keras.layers.Dense(4, name="block_0")(x)
    x = keras.layers.Dense(4, name="block_1")(x)
    x = keras.layers.LayerNormalization(name="between")(x)
    x = keras.layers.Dense(4, name="block_2")(x)
    x = keras.layers.LayerNormalization(name="final_norm")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def test_layerwise_decay_beit_convention(fresh_session):
    model = transformer_like()
    decay = 0.65
    multipliers = layerwise_decay(model, decay, blocks=r"block_\d+")
    by_path = resolved(model, multipliers)
    expected = {"embedding": decay ** 4, "block_0": decay ** 3, "block_1": decay ** 2,
                "between": decay ** 2, "block_2": decay, "final_norm": 1.0, "head": 1.0}
    for path, value in by_path.items():
        assert value == pytest.approx(expected[path.split("/")[0]], rel=1e-10), path
    # The same blocks given as a list.
    assert layerwise_decay(model, decay, blocks=["block_0", model.get_layer("block_1"),
                                                 "block_2"]) == multipliers


def test_layerwise_decay_default_is_one_block_per_layer(fresh_session):
    model = stack(["a", "b", "c"])
    assert layerwise_decay(model, 0.5) == {"a": 0.25, "b": 0.5, "c": 1.0}


def test_bad_arguments(fresh_session):
    model = stack(["a", "b"])
    with pytest.raises(ValueError, match="Argument `lr_range` must be a pair"):
        discriminative(model, 1e-3)
    with pytest.raises(ValueError, match=r"Argument `lr_range\[0\]` must be > 0"):
        discriminative(model, (0.0, 1e-3))
    with pytest.raises(ValueError, match="low <= high"):
        discriminative(model, (1e-2, 1e-3))
    with pytest.raises(ValueError, match=r"not in the model: 'c'. Layer names: \['a', 'b'\]"):
        discriminative(model, (1e-3, 1e-2), groups=["a", "c"])
    with pytest.raises(ValueError, match="twice"):
        discriminative(model, (1e-3, 1e-2), groups=["a", ["b", "a"]])
    with pytest.raises(ValueError, match="empty group"):
        discriminative(model, (1e-3, 1e-2), groups=["a", []])
    with pytest.raises(ValueError, match="Argument `decay` must be <= 1"):
        layerwise_decay(model, 1.5)
    with pytest.raises(ValueError, match="Argument `decay` must be > 0"):
        layerwise_decay(model, 0.0)
    with pytest.raises(ValueError, match="matches no layer name"):
        layerwise_decay(model, 0.5, blocks="block_.*")
    with pytest.raises(ValueError, match="valid regular expression"):
        layerwise_decay(model, 0.5, blocks="block_(")
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no trainable weights yet"):
        discriminative(unbuilt, (1e-3, 1e-2))
    frozen = stack(["x", "y"])
    frozen.get_layer("x").trainable = False
    with pytest.raises(ValueError, match="without trainable weights: 'x'"):
        discriminative(frozen, (1e-3, 1e-2), groups=["x", "y"])


@pytest.mark.parametrize("helper,args", [
    (discriminative, ((1e-3, 1e-2),)),
    (layerwise_decay, (0.5,)),
])
def test_group_helpers_refuse_what_is_not_a_built_model(helper, args):
    with pytest.raises(TypeError, match="Argument `model` must be a built `keras.Model`"):
        helper(None, *args)
    with pytest.raises(ValueError, match="no trainable weights yet"):
        helper(keras.Sequential([keras.layers.Dense(2)]), *args)
