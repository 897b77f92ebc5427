"""Runs the backend-independent suites again on JAX and on PyTorch.

Keras picks its backend once per process, so each other backend is a
subprocess (`KERAS_BACKEND=jax python -m pytest tests/schedules ...`):

- **JAX in an environment without TensorFlow**: the subprocess has
  `tests/without_tensorflow` on `PYTHONPATH`, whose `sitecustomize` makes
  `import tensorflow` fail as it does where TensorFlow is not installed;
- **PyTorch** (the CPU build, `torch==2.13.0`, from the `test` extra).

Both start as soon as the suite is collected (`start_backend_runs`, called
from conftest) and run beside the TensorFlow run; the two tests below wait
for them. CI installs JAX and torch with the `test` extra; without them
these tests fail rather than skip, so that a green run means the three
backends passed. The per-backend counts are printed at the end of the run.
"""

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ["tests/schedules", "tests/finder", "tests/callbacks", "tests/optimizers",
          "tests/workflows", "tests/sweeps", "tests/tuning", "tests/test_seams.py",
          "tests/peers", "tests/test_keras_private.py", "tests/test_layers.py",
          "tests/contracts", "tests/test_bad_input.py", "tests/test_defects.py"]
JAX_SUITES = SUITES  # (the name earlier rounds used)
BACKENDS = ("jax", "torch")
WITHOUT_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
TIMEOUT = 2400

_runs = {}
SUMMARIES = {}


# The three backend runs share the machine's cores: one thread each for the
# math libraries, so that they do not fight (2 cores, 3 processes).
THREAD_CAPS = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    # (TensorFlow keeps its inter-op pool: a MirroredStrategy's replicas wait
    # on each other's all-reduce and need two threads.)
    "TF_NUM_INTRAOP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _environment(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    for name, value in THREAD_CAPS.items():
        env.setdefault(name, value)
    if backend == "jax":
        env["KERAS_LR_WITHOUT_TENSORFLOW"] = "1"  # conftest checks the block is active
        env["PYTHONPATH"] = os.pathsep.join(
            [WITHOUT_TENSORFLOW] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def start_backend_runs():
    """Starts the JAX and PyTorch runs (once), in the background."""
    if BACKEND != "tensorflow" or _runs:
        return
    for backend in BACKENDS:
        log = tempfile.TemporaryFile(mode="w+")
        # Its own temporary directory: a pytest session that numbers its own
        # removes all but the three newest, the running TensorFlow session's too.
        basetemp = tempfile.mkdtemp(prefix=f"keras_lr_{backend}_")
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
             f"--basetemp={basetemp}", *SUITES],
            cwd=ROOT, env=_environment(backend), stdout=log, stderr=subprocess.STDOUT,
            text=True)
        _runs[backend] = (process, log, time.monotonic())


def _wait(backend):
    start_backend_runs()
    process, log, started = _runs[backend]
    try:
        process.wait(timeout=max(1, TIMEOUT - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.seek(0)
    output = log.read()
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    SUMMARIES[backend] = re.sub(r"=+", "", last).strip()
    return process.returncode, output, last


@pytest.mark.skipif(BACKEND != "tensorflow", reason="launched from the TensorFlow run")
@pytest.mark.parametrize("backend", BACKENDS)
def test_suites_pass_on_the_other_backends(backend):
    module = {"jax": "jax", "torch": "torch"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: pip install -e '.[test]' installs it")
    code, output, last = _wait(backend)
    print(output[-6000:])
    # The failures first: the tail alone can be all skip reasons.
    failures = "\n".join(line for line in output.splitlines()
                         if line.startswith(("FAILED", "ERROR")))
    assert code == 0, f"{backend} backend run failed:\n{failures}\n...\n{output[-6000:]}"
    assert " passed" in last, output[-6000:]
