"""Test set-up shared by the whole suite.

TensorFlow gets two logical CPU devices before anything else touches it, so
that `tf.distribute.MirroredStrategy` can be tested on one CPU.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0],
        [tf.config.LogicalDeviceConfiguration(),
         tf.config.LogicalDeviceConfiguration()],
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tensorflow_only: needs the TensorFlow backend"
    )


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs TensorFlow; backend is {BACKEND}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fresh_session():
    """A clean Keras session, for tests that build models."""
    keras.utils.clear_session()
    yield


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs for the whole session.

    Each new strategy numbers its collective ops from the same start, so two
    strategies in one process can run into each other's all-reduce
    ("Shape mismatch in the collective instance 100"); sharing one avoids it.
    """
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, shuffled once, scaled to [0, 1]."""
    from tests.digits import load_digits

    return load_digits()
