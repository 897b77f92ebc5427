"""Keras's own test of `ReduceLROnPlateau` with a `MultiOptimizer`, run
against keras-lr's `ReduceLROnPlateau`.

Source: Keras 3.15 (the installed release, `setup.cfg` pins the minor),
`keras/src/optimizers/multi_optimizer_test.py`,
`MultiOptimizerTest.test_reduce_lr_on_plateau_with_multi_optimizer`. The
test is imported from the installed Keras and run as it is, with one change:
the `callbacks` module it reads `ReduceLROnPlateau` from is swapped for one
whose `ReduceLROnPlateau` is keras-lr's. (The file's other callback cases
are of Keras's `LearningRateScheduler`, `TensorBoard` and `SwapEMAWeights`,
which keras-lr does not replace.)
"""

import types

import pytest

import keras_lr

peer = pytest.importorskip("keras.src.optimizers.multi_optimizer_test",
                           reason="could not import Keras's multi_optimizer_test")

CASES = ["test_reduce_lr_on_plateau_with_multi_optimizer"]


@pytest.mark.parametrize("name", CASES)
def test_keras_multi_optimizer_callback_case(name, monkeypatch):
    made = []

    class Ours(keras_lr.callbacks.ReduceLROnPlateau):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    swapped = types.SimpleNamespace(**vars(peer.callbacks))
    swapped.ReduceLROnPlateau = Ours
    monkeypatch.setattr(peer, "callbacks", swapped)
    case = peer.MultiOptimizerTest(name)
    case.debug()  # runs setUp, the test and tearDown; raises on failure
    assert made and made[0].reductions == 1  # it was keras-lr's that reduced
