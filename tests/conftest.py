"""Test set-up shared by the whole suite.

TensorFlow gets two logical CPU devices before anything else touches it, so
that `tf.distribute.MirroredStrategy` can be tested on one CPU.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

# Not a test module: `--doctest-modules` would import it, and it makes
# TensorFlow unimportable in the process that imports it.
collect_ignore = ["without_tensorflow"]

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
    config.addinivalue_line(
        "markers", "needs_steps_per_execution: uses steps_per_execution > 1, which "
        "Keras's PyTorch backend refuses")
    config.addinivalue_line(
        "markers", "contracts: the contract suite's cases that CI runs (tests/contracts)")
    config.addinivalue_line(
        "markers", "contracts_full: the rest of the contract product; `pytest -m "
        "contracts_full tests/contracts` runs it")
    if os.environ.get("KERAS_LR_WITHOUT_TENSORFLOW") and not any(
            type(finder).__name__ == "_NoTensorFlow" for finder in sys.meta_path):
        raise pytest.UsageError(
            "KERAS_LR_WITHOUT_TENSORFLOW is set but tests/without_tensorflow is not on "
            "PYTHONPATH: this run would see TensorFlow.")


# Tests checked against a reference implementation (PyTorch, the peers' own
# test files, the LR-free optimizers' packages, optax): in CI a reference
# that cannot be imported fails the run instead of skipping it.
REFERENCE_TESTS = ("tests/schedules/test_against_torch.py", "tests/peers/",
                   "tests/optimizers/test_lr_free.py", "tests/optimizers/test_schedule_free.py",
                   "tests/optimizers/test_optax_references.py")


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if any("test_backends.py::test_suites_pass_on_the_other_backends" in item.nodeid
           for item in session.items):
        from tests.test_backends import start_backend_runs

        start_backend_runs()


def _reference_counts(stats):
    counts = {}
    for outcome in ("passed", "failed", "skipped", "xfailed"):
        for report in stats.get(outcome, []):
            if any(report.nodeid.startswith(p) or p in report.fspath
                   for p in REFERENCE_TESTS):
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _import_skips(stats):
    return [r for r in stats.get("skipped", [])
            if any(p in str(getattr(r, "fspath", "")) or r.nodeid.startswith(p)
                   for p in REFERENCE_TESTS)
            and "could not import" in str(r.longrepr)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = terminalreporter.stats
    counts = {k: len(stats.get(k, [])) for k in ("passed", "failed", "skipped", "xfailed")}
    terminalreporter.section("tests per backend")
    terminalreporter.write_line(
        f"{BACKEND}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
    try:
        from tests.test_backends import SUMMARIES
    except ImportError:  # pragma: no cover
        SUMMARIES = {}
    for backend, line in SUMMARIES.items():
        terminalreporter.write_line(f"{backend}: {line}")
    references = _reference_counts(stats)
    terminalreporter.write_line(
        "reference tests (PyTorch, peers' suites, LR-free packages, optax) on "
        f"{BACKEND}: " + ", ".join(f"{v} {k}" for k, v in references.items()))
    for report in _import_skips(stats):
        terminalreporter.write_line(f"REFERENCE NOT RUN: {report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and _import_skips(reporter.stats):
        session.exitstatus = 1  # a reference test did not run in CI


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs TensorFlow; backend is {BACKEND}")
    no_spe = pytest.mark.skip(
        reason="Keras's PyTorch backend supports only steps_per_execution=1")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
        if BACKEND == "torch" and "needs_steps_per_execution" in item.keywords:
            item.add_marker(no_spe)


_SESSIONS = {"count": 0}


@pytest.fixture
def fresh_session():
    """A clean Keras session, for tests that build models.

    Without Python's garbage collection (`free_memory=False`): late in the
    run a full collection over every earlier test's objects cost 4-14 s per
    test; one in 50 fresh sessions still collects, which keeps memory flat.
    """
    _SESSIONS["count"] += 1
    keras.utils.clear_session(free_memory=_SESSIONS["count"] % 50 == 0)
    yield


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs for the whole session.

    Each new strategy numbers its collective ops from the same start, so two
    strategies in one process can run into each other's all-reduce
    ("Shape mismatch in the collective instance 100"); sharing one avoids it.
    """
    from tests.strategy import shared_strategy

    return shared_strategy()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, shuffled once, scaled to [0, 1]."""
    from tests.digits import load_digits

    return load_digits()
