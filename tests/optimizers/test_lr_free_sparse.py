"""Sparse gradients: an `Embedding`'s gradient is TensorFlow's
`IndexedSlices`; the learning-rate-free optimizers take it dense, as their
references do, so a model with an embedding table trains exactly as the same
table used as a `Dense` layer on one-hot inputs (whose gradient is dense).
On JAX and PyTorch both gradients are dense and the check still holds."""

import keras
import numpy as np
import pytest

from keras_lr.optimizers import DAdaptAdam
from keras_lr.optimizers import DoG
from keras_lr.optimizers import DoWG
from keras_lr.optimizers import LRMultiplier
from keras_lr.optimizers import Mechanic
from keras_lr.optimizers import Prodigy
from keras_lr.optimizers import ScheduleFreeAdamW
from keras_lr.optimizers import ScheduleFreeSGD


SPARSE_CASES = {
    "prodigy": lambda: Prodigy(d0=1e-3), "dadapt_adam": lambda: DAdaptAdam(d0=1e-3),
    "dog": lambda: DoG(reps_rel=1e-3), "dowg": lambda: DoWG(initial_squared_distance=1e-4),
    "sf_adamw": lambda: ScheduleFreeAdamW(0.01),
    "sf_sgd": lambda: ScheduleFreeSGD(0.1),
    "multiplier_sf_adamw": lambda: LRMultiplier(ScheduleFreeAdamW(0.01), {"table": 0.5}),
    "mechanic": lambda: Mechanic(keras.optimizers.Adam(1e-2), s_init=1e-2),
}


@pytest.mark.parametrize("name", sorted(SPARSE_CASES))
def test_an_embedding_trains_as_its_dense_equivalent(fresh_session, name):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 20, size=(64, 3))
    target = rng.normal(size=(64, 1)).astype("float32")
    table = (rng.normal(size=(20, 4)) * 0.5).astype("float32")
    head = (rng.normal(size=(12, 1)) * 0.5).astype("float32")

    def trained(sparse):
        if sparse:
            model = keras.Sequential([
                keras.Input((3,), dtype="int32"), keras.layers.Embedding(20, 4, name="table"),
                keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False, name="out")])
            inputs = ids
        else:
            model = keras.Sequential([
                keras.Input((3, 20)), keras.layers.Dense(4, use_bias=False, name="table"),
                keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False, name="out")])
            inputs = np.eye(20, dtype="float32")[ids]
        model.set_weights([table, head])
        model.compile(SPARSE_CASES[name](), "mse")
        model.fit(inputs, target, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    sparse, dense = trained(True), trained(False)
    for a, b in zip(sparse, dense):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, np.max(np.abs(b))))
    assert np.max(np.abs(dense[0] - table)) > 1e-3
