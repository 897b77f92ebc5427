"""`LRMultiplier` keys that name a nested model (Keras 3 leaves its name out
of variable paths), `variable_multipliers` reporting keys that select
nothing, and `discriminative` splitting inside a backbone."""

import warnings

import keras
import numpy as np
import pytest

from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import discriminative


def _nested():
    """A functional backbone inside a model, as `keras.applications` are."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, name="conv_a")(inputs)
    hidden = keras.layers.BatchNormalization(name="bn_a")(hidden)
    hidden = keras.layers.Dense(6, name="conv_b")(hidden)
    hidden = keras.layers.Dense(6, name="conv_c")(hidden)
    backbone = keras.Model(inputs, hidden, name="backbone")
    outer_inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, name="head")(backbone(outer_inputs))
    return keras.Model(outer_inputs, outputs, name="classifier"), backbone


def test_variable_paths_lack_the_nested_model_name(fresh_session):
    # The Keras 3 fact the tree lookup exists for: fails loudly if it changes.
    model, backbone = _nested()
    assert not any("backbone" in v.path for v in model.trainable_variables)


def test_a_nested_model_key_selects_its_variables(fresh_session):
    model, backbone = _nested()
    optimizer = LRMultiplier(keras.optimizers.SGD(0.1), {"backbone": 0.25})
    table = optimizer.variable_multipliers(model)
    inside = {v.path for v in backbone.trainable_variables}
    assert {p for p, m in table.items() if m == 0.25} == inside
    assert table["head/kernel"] == 1.0
    # ...and in training: the backbone moves a quarter as far as with 1.0.
    model.compile(optimizer, "mse")
    reference, _ = _nested()
    reference.set_weights(model.get_weights())
    reference.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.random.default_rng(0).normal(size=(8, 4)), np.ones((8, 1))
    start = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    reference.train_on_batch(x, y)
    for v, r, w0 in zip(model.trainable_variables, reference.trainable_variables, start):
        factor = 0.25 if v.path in inside else 1.0
        np.testing.assert_allclose(v.numpy() - w0, factor * (r.numpy() - w0),
                                   rtol=1e-5, atol=1e-7)


def test_unused_keys_are_reported(fresh_session):
    model, _ = _nested()
    optimizer = LRMultiplier(keras.optimizers.SGD(0.1), {"backbone": 0.5, "nope": 0.1})
    with pytest.warns(UserWarning, match=r"the keys \['nope'\] select no trainable variable"):
        optimizer.variable_multipliers(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LRMultiplier(keras.optimizers.SGD(0.1), {"backbone": 0.5}).variable_multipliers(model)
    model.compile(optimizer, "mse")
    with pytest.raises(ValueError, match=r"select no trainable variable: \['nope'\]"):
        model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)


def test_built_outside_fit_says_why(fresh_session):
    model, _ = _nested()
    optimizer = LRMultiplier(keras.optimizers.SGD(0.1), {"backbone": 0.5})
    with pytest.raises(ValueError, match="built outside `fit`"):
        optimizer.build(model.trainable_variables)


def test_load_model_resolves_nested_keys(fresh_session, tmp_path):
    model, _ = _nested()
    model.compile(LRMultiplier(keras.optimizers.SGD(0.1), {"backbone": 0.5}), "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.variable_multipliers() == model.optimizer.variable_multipliers()


def test_mobilenet_backbone_key(fresh_session):
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False,
                                          weights=None, alpha=0.35)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(features))
    table = LRMultiplier(keras.optimizers.Adam(), {base.name: 0.1}).variable_multipliers(model)
    assert sum(m == 0.1 for m in table.values()) == len(base.trainable_variables)
    assert table["head/kernel"] == 1.0
    # groups=N cuts inside the backbone; keys are readable layer names.
    multipliers = discriminative(model, (1e-4, 1e-2), groups=3)
    assert list(multipliers)[0] == "Conv1" and all("|" not in k for k in multipliers)
    assert sorted(set(multipliers.values())) == [0.01, 0.1, 1.0]
    # A slice of base.layers with its weightless InputLayer works.
    multipliers = discriminative(model, (1e-4, 1e-2), groups=[
        base.layers[:70], base.layers[70:], [model.get_layer("head")]])
    table = LRMultiplier(keras.optimizers.Adam(), multipliers).variable_multipliers(model)
    assert sorted(set(table.values())) == [0.01, 0.1, 1.0]


def test_discriminative_groups_count(fresh_session):
    model, backbone = _nested()
    multipliers = discriminative(model, (1e-3, 1e-1), groups=2)
    # conv_a, bn_a, conv_b, conv_c, head: five weighted layers, 3 + 2.
    assert multipliers == {"conv_a": 0.01, "bn_a": 0.01, "conv_b": 0.01,
                           "conv_c": 1.0, "head": 1.0}
    assert discriminative(model, (1e-3, 1e-1)) == {"backbone": 0.01, "head": 1.0}
    with pytest.raises(ValueError, match="at most the number of layers with trainable weights, 5"):
        discriminative(model, (1e-3, 1e-1), groups=6)
    with pytest.raises(ValueError, match="Argument `groups` must be >= 1"):
        discriminative(model, (1e-3, 1e-1), groups=0)
    with pytest.raises(ValueError, match="group without trainable weights at index 0"):
        discriminative(model, (1e-3, 1e-1), groups=[
            [backbone.layers[0], keras.layers.InputLayer((3,))], [model.get_layer("head")]])
