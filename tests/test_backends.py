"""Runs the backend-independent suites again on the JAX backend.

Keras picks its backend once per process, so the JAX run is a subprocess
(`KERAS_BACKEND=jax python -m pytest tests/schedules`). CI installs JAX with
the `test` extra; without it this test fails rather than skips, so that a
green run always means both backends passed.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_SUITES = ["tests/schedules", "tests/finder", "tests/callbacks", "tests/optimizers",
              "tests/workflows", "tests/sweeps",
              "tests/tuning", "tests/test_seams.py", "tests/peers", "tests/test_keras_private.py"]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="launched from the TensorFlow run")
def test_suites_pass_on_jax_backend():
    if importlib.util.find_spec("jax") is None:
        pytest.fail("JAX is not installed: pip install -e '.[test]' installs it")
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *JAX_SUITES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    tail = (result.stdout + result.stderr)[-6000:]
    print(tail)
    assert result.returncode == 0, f"JAX backend run failed:\n{tail}"
    assert " passed" in result.stdout.splitlines()[-1], tail
