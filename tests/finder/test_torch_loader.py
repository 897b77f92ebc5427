"""`find_lr` takes a `torch.utils.data.DataLoader`, as `fit` does, on every
backend: its batches (tensors, in lists) are read as the same batches given
as a generator of NumPy tuples."""

import keras
import numpy as np
import pytest

import keras_lr


def _model(built=True):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    if built:
        model.build((None, 8))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_a_dataloader_sweeps_as_its_batches(fresh_session):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    y = (x.sum(1) > 0).astype("int64")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=32, shuffle=False)
    ours = keras_lr.find_lr(_model(), loader, num_steps=40, repeats=1, verbose=0, seed=0)
    batches = ((x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32))
    reference = keras_lr.find_lr(_model(), batches, num_steps=40, repeats=1, verbose=0, seed=0)
    np.testing.assert_allclose(ours.losses, reference.losses, rtol=1e-5)
    assert len(ours.losses) == 40 and ours.suggestion() == reference.suggestion()
    # An unbuilt model is built from the loader's first batch (it can be read
    # again, unlike a generator).
    unbuilt = _model(built=False)
    keras_lr.find_lr(unbuilt, loader, num_steps=20, repeats=1, verbose=0, seed=0)
    assert unbuilt.built and unbuilt.input_shape[-1] == 8
