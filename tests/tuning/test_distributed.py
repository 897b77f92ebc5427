"""A chief and two workers on 127.0.0.1 finish one search together."""

import json
import math
import os
import sys
import time

import pytest

from keras_lr.tuning import failed_trials
from keras_lr.tuning import launch as launcher
from tests.conftest import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "tuning", "distributed_search.py")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="one backend is enough: processes")
def test_chief_and_two_workers_finish_a_search_together(tmp_path):
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": ""}
    started = time.monotonic()
    codes = launcher.launch([sys.executable, SCRIPT, str(tmp_path)], workers=2,
                            timeout=240, env=env, log_dir=str(tmp_path / "logs"))
    elapsed = time.monotonic() - started
    logs = {name: (tmp_path / "logs" / name).read_text()[-3000:]
            for name in os.listdir(tmp_path / "logs")}
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, (codes, logs)
    assert elapsed < 240

    # Every trial accounted for, in the chief's records...
    trials = []
    project = tmp_path / "search"
    for name in sorted(os.listdir(project)):
        if name.startswith("trial_"):
            trials.append(json.loads((project / name / "trial.json").read_text()))
    assert len(trials) == 7
    assert all(t["status"] in ("COMPLETED", "FAILED") for t in trials)
    decades = sorted(round(math.log10(t["hyperparameters"]["values"]["learning_rate"]))
                     for t in trials
                     if t["hyperparameters"]["values"]["keras_lr/stage"] == "coarse")
    assert decades == [-3, -2, -1, 0, 1]  # one per decade, no duplicate
    # ... and by the workers: both trained, every trial ran once.
    ran = {}
    for worker in ("tuner0", "tuner1"):
        path = tmp_path / f"ran_{worker}.jsonl"
        ran[worker] = [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
    assert all(ran.values()), ran
    finished = [t for t in trials if t["status"] == "COMPLETED"]
    assert len(ran["tuner0"]) + len(ran["tuner1"]) >= len(finished)
    assert not (tmp_path / "ran_chief.jsonl").exists()  # the chief trains nothing

    # keras-tuner drops a trial's message between worker and chief; the
    # reason of each failure is still there (written by the worker).
    from tests.tuning.distributed_search import make_tuner

    failed = failed_trials(make_tuner(str(tmp_path)))
    assert len(failed) == sum(t["status"] == "FAILED" for t in trials)
    assert all(f["reason"].startswith("FailedTrialError: Diverged:") for f in failed), failed


LISTEN = (
    "import os, socket, sys, time\n"
    "if os.environ['KERASTUNER_TUNER_ID'] == 'chief':\n"
    "    s = socket.socket(); s.bind((os.environ['KERASTUNER_ORACLE_IP'], "
    "int(os.environ['KERASTUNER_ORACLE_PORT']))); s.listen()\n")


def test_launcher_ends_every_process_on_timeout():
    hang = [sys.executable, "-c", LISTEN + "time.sleep(120)\n"]
    started = time.monotonic()
    codes = launcher.launch(hang, workers=2, timeout=4)
    assert time.monotonic() - started < 30
    assert codes == {"chief": None, "tuner0": None, "tuner1": None}


def test_launcher_ends_the_others_when_one_fails():
    fail = [sys.executable, "-c", LISTEN + "time.sleep(1)\n"
            "if os.environ['KERASTUNER_TUNER_ID'] == 'tuner1': sys.exit(3)\n"
            "time.sleep(120)\n"]
    started = time.monotonic()
    codes = launcher.launch(fail, workers=2, timeout=60)
    assert time.monotonic() - started < 30
    assert codes == {"chief": None, "tuner0": None, "tuner1": 3}


def test_launcher_reports_a_chief_that_never_listens():
    with pytest.raises(RuntimeError, match="did not start listening"):
        launcher.launch([sys.executable, "-c", "import time; time.sleep(60)"],
                        workers=1, timeout=2)


def test_launcher_closes_its_log_files(tmp_path):
    # An unclosed file is a ResourceWarning when it is collected.
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(RuntimeError, match="did not start listening"):
            launcher.launch([sys.executable, "-c", "print('started')"], workers=1,
                            timeout=2, log_dir=str(tmp_path / "logs"))
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                and "chief.log" in str(w.message)]
    assert unclosed == []
    assert "started" in (tmp_path / "logs" / "chief.log").read_text()


@pytest.mark.parametrize("kwargs, message", [
    (dict(workers=0), "Argument `workers` must be an integer >= 1"),
    (dict(workers=None), "Argument `workers` must be an integer >= 1"),
    (dict(workers=2, timeout=0), "Argument `timeout` must be > 0"),
    (dict(gpus=[]), "Argument `gpus` found no GPU"),
])
def test_launcher_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        launcher.launch(["true"], **kwargs)


def test_launcher_cli_pins_one_worker_per_gpu(tmp_path, monkeypatch):
    # Each process prints its role and CUDA_VISIBLE_DEVICES; the chief must
    # listen, so the command opens the port when it is the chief.
    script = tmp_path / "role.py"
    script.write_text(
        "import os, socket, time\n"
        "role = os.environ['KERASTUNER_TUNER_ID']\n"
        "if role == 'chief':\n"
        "    s = socket.socket(); s.bind((os.environ['KERASTUNER_ORACLE_IP'], "
        "int(os.environ['KERASTUNER_ORACLE_PORT']))); s.listen(); time.sleep(2)\n"
        f"open(r'{tmp_path}/' + role, 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    code = launcher.main(["--gpus", "all", "--timeout", "60", "--", sys.executable, str(script)])
    assert code == 0
    assert (tmp_path / "chief").read_text() == ""
    assert (tmp_path / "tuner0").read_text() == "3"
    assert (tmp_path / "tuner1").read_text() == "5"
