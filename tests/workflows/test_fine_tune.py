"""`keras_lr.fine_tune` on real backbones: a `keras.applications` model and a
keras-hub backbone built from its config (offline, no weights)."""

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr._core.keras_private import jax_state_sync


class _FirstStep(keras.callbacks.Callback):
    """Per fit: the weights before training and the change of each trainable
    variable in the first step."""

    def __init__(self, watched):
        super().__init__()
        self.watched = watched
        self.fits = []

    def on_train_begin(self, logs=None):
        self.fits.append({"before": [v.numpy().copy() for v in self.watched],
                          "step": None})

    def on_train_batch_begin(self, batch, logs=None):
        if self.fits[-1]["step"] is None:
            jax_state_sync(self.model)  # on JAX the values live in the loop's state
            self._trainable = list(self.model.trainable_variables)
            self._start = [v.numpy().copy() for v in self._trainable]

    def on_train_batch_end(self, batch, logs=None):
        if self.fits[-1]["step"] is None:
            jax_state_sync(self.model)
            self.fits[-1]["step"] = {
                v.path: np.abs(v.numpy() - w) for v, w in zip(self._trainable, self._start)}

    def on_train_end(self, logs=None):
        jax_state_sync(self.model)
        self.fits[-1]["after"] = [v.numpy().copy() for v in self.watched]


def _check_phases(model, backbone, watch, frozen, history, lr_mult=100.0, groups=3):
    first, second = watch.fits
    # Phase 1: every backbone weight (moving statistics included) unchanged.
    for before, after in zip(first["before"], first["after"]):
        np.testing.assert_array_equal(before, after)
    assert all(v.path not in first["step"] for v in backbone.weights)
    assert frozen.schedule.pct_start == 0.99
    # Phase 2: backbone trainable, discriminative multipliers by group; its
    # batch normalization in inference mode: statistics, scale and offset
    # unchanged (Keras 3.15 would run it in training mode: issue 24).
    assert backbone.trainable
    batchnorm = [w for layer in [backbone, *backbone._flatten_layers()]
                 if isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights]
    assert all(not layer.trainable for layer in backbone._flatten_layers()
               if isinstance(layer, keras.layers.BatchNormalization))
    watched = {id(w): i for i, w in enumerate(watch.watched)}
    for w in batchnorm:
        np.testing.assert_array_equal(second["before"][watched[id(w)]],
                                      second["after"][watched[id(w)]], err_msg=w.path)
    assert history.schedule.max_learning_rate == frozen.schedule.max_learning_rate / 2
    multipliers = model.optimizer.inner_optimizer.variable_multipliers(model)
    expected = [float(f"{lr_mult ** -((groups - 1 - i) / (groups - 1)):.12g}")
                for i in range(groups)]
    np.testing.assert_allclose(sorted(set(multipliers.values())), sorted(expected), rtol=1e-9)
    head = {v.path for layer in model.layers if layer is not backbone
            for v in layer.trainable_variables}
    assert all(multipliers[p] == 1.0 for p in head)
    assert {multipliers[v.path] for v in backbone.trainable_variables} == set(expected[:-1])
    # Adam's first step moves each element by lr * m * g / (|g| + eps) = lr * m.
    lr = float(history.schedule(0))
    ratios = {}
    for path, change in second["step"].items():
        moved = change[change > 0]
        if moved.size:
            ratios.setdefault(multipliers[path], []).append(np.median(moved) / lr)
    for multiplier, values in ratios.items():
        np.testing.assert_allclose(np.median(values), multiplier, rtol=0.02)
    assert len(ratios) == groups


def test_mobilenet_v2_backbone(fresh_session):
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(features))
    # Inference-mode batch normalization with the untrained statistics of a
    # random init leaves the bottom layers tiny gradients: an epsilon far
    # below them keeps Adam's first step at lr * multiplier.
    model.compile(keras.optimizers.Adam(epsilon=1e-30), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 48)
    watch = _FirstStep(base.weights)
    frozen, history = keras_lr.fine_tune(
        model, x, y, backbone=base, epochs=1, freeze_epochs=1, base_lr=1e-3,
        batch_size=8, callbacks=[watch], verbose=0)
    _check_phases(model, base, watch, frozen, history)


def test_keras_hub_backbone(fresh_session):
    keras_hub = pytest.importorskip("keras_hub")  # in the test extra: runs in CI
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=8)
    inputs = {name: keras.Input((8,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    pooled = backbone(inputs)["pooled_output"]
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(pooled))
    model.compile(keras.optimizers.Adam(epsilon=1e-12), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(0, 50, (32, 8)), "segment_ids": np.zeros((32, 8), "int32"),
         "padding_mask": np.ones((32, 8), "int32")}
    y = rng.integers(0, 2, 32)
    watch = _FirstStep(backbone.weights)
    frozen, history = keras_lr.fine_tune(
        model, x, y, backbone=backbone.name, epochs=1, base_lr=1e-3, lr_mult=10.0,
        groups=4, batch_size=4, callbacks=[watch], verbose=0)
    _check_phases(model, backbone, watch, frozen, history, lr_mult=10.0, groups=4)


def test_errors(fresh_session):
    inputs = keras.Input((4,))
    body = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)], name="body")
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(body(inputs)))
    model.compile("adam", "mse")
    x, y = np.zeros((16, 4)), np.zeros((16, 1))
    with pytest.raises(ValueError, match="names no layer of the model: 'nope'"):
        keras_lr.fine_tune(model, x, y, backbone="nope", epochs=1)
    other = keras.layers.Dense(3)
    with pytest.raises(ValueError, match="is not a layer of the model"):
        keras_lr.fine_tune(model, x, y, backbone=other, epochs=1)
    with pytest.raises(ValueError, match="BackupAndRestore"):
        keras_lr.fine_tune(model, x, y, backbone=body, epochs=1, callbacks=[
            keras.callbacks.BackupAndRestore("/tmp/unused")])
    with pytest.raises(ValueError, match="at most 1 \\+ the 1 layers"):
        keras_lr.fine_tune(model, x, y, backbone=body, epochs=1, groups=3)
    with pytest.raises(ValueError, match="Argument `lr_mult` must be"):
        keras_lr.fine_tune(model, x, y, backbone=body, epochs=1, lr_mult=0.5)
    whole = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    whole.compile("adam", "mse")
    with pytest.raises(ValueError, match="no trainable weights outside the backbone"):
        keras_lr.fine_tune(whole, x, y, backbone=whole.layers[0], epochs=1, groups=2)
    assert body.trainable  # nothing was changed


def test_the_multipliers_are_read_on_the_model_optimizer():
    # After fine_tune the model's optimizer is a ScheduledMomentum around the
    # LRMultiplier: its multipliers are read on it, as on the LRMultiplier.
    from keras_lr.optimizers import LRMultiplier
    from keras_lr.optimizers import ScheduledMomentum

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="a"),
                              keras.layers.Dense(1, name="b")])
    momentum = keras_lr.schedules.OneCycleMomentum(10)
    inner = LRMultiplier(keras.optimizers.Adam(), {"a": 0.1})
    outer = ScheduledMomentum(inner, momentum)
    model.compile(outer, "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    assert outer.variable_multipliers(model) == inner.variable_multipliers(model)
    assert set(outer.variable_multipliers(model).values()) == {0.1, 1.0}
    with pytest.raises(ValueError, match="no LRMultiplier inside"):
        ScheduledMomentum(keras.optimizers.Adam(), momentum).variable_multipliers(model)


def test_a_failed_first_phase_leaves_every_trainable_flag_as_it_was():
    # Setting `trainable` on the backbone sets it on every layer inside: the
    # user's own frozen layer inside stays frozen after an error.
    inputs = keras.Input((4,))
    body = keras.Sequential([keras.layers.Dense(4, name="a"), keras.layers.Dense(4, name="b"),
                             keras.layers.Dense(4, name="c")], name="body")
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(body(inputs)))
    model.compile(keras.optimizers.Adam(), "mse")
    body.get_layer("b").trainable = False

    class Stop(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        keras_lr.fine_tune(model, np.zeros((640, 4)), np.zeros((640, 1)), backbone=body,
                           epochs=1, base_lr=1e-3, groups=2, callbacks=[Stop()], verbose=0)
    assert body.trainable
    assert [layer.trainable for layer in body.layers] == [True, False, True]
