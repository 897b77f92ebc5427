"""Start a keras-tuner search as one chief and N workers on this host.

Usage::

    python -m keras_lr.tuning.launch --workers 4 -- python search.py --epochs 10
    python -m keras_lr.tuning.launch --gpus all -- python search.py

The same command (your search script, which builds the tuner and calls
`search`) runs in every process; keras-tuner's environment variables decide
its role: `KERASTUNER_TUNER_ID` (`chief`, `tuner0`, `tuner1`, ...),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`. The chief runs the
oracle (it trains nothing and sees no GPU); each worker asks it for trials.
With `--gpus`, one worker per GPU, pinned with `CUDA_VISIBLE_DEVICES`;
otherwise `--workers` CPU workers. Every process is ended when the chief
finishes, when one fails, on `--timeout`, and on Ctrl-C.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

__all__ = ["free_port", "launch", "main", "visible_gpus"]


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def visible_gpus():
    """The GPU indices this host has: `CUDA_VISIBLE_DEVICES`, else `nvidia-smi -L`."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def _wait_for_port(host, port, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _end(processes, grace=10.0):
    """Ends the processes still running; returns them."""
    running = [p for p in processes if p.poll() is None]
    for p in running:
        os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return running


def launch(command, workers=None, gpus=None, host="127.0.0.1", port=None,
           timeout=None, env=None, log_dir=None):
    """Runs `command` as a keras-tuner chief and its workers; waits for all.

    Args:
        command: List of strings, the search script's command line.
        workers: Integer >= 1: CPU workers. Required unless `gpus` is given.
        gpus: `None`, `"all"` (every GPU `visible_gpus()` finds) or a list of
            GPU indices: one worker per GPU, pinned with
            `CUDA_VISIBLE_DEVICES`.
        host: The chief's address. Defaults to `"127.0.0.1"`.
        port: The chief's port. Defaults to a free one.
        timeout: Optional seconds: every process is ended after that.
        env: Optional extra environment variables for every process.
        log_dir: Optional directory: each process writes `<tuner_id>.log`
            there instead of to this terminal.

    Returns:
        A dict `{tuner_id: return_code}` (`None` for a process that had to
        be ended).

    Raises:
        ValueError: for an invalid argument, or `gpus="all"` on a host
            without GPUs.
        RuntimeError: if the chief does not start listening.
    """
    if not command:
        raise ValueError("Argument `command` must be a non-empty list. Received: command=[]")
    if gpus is not None:
        devices = visible_gpus() if gpus == "all" else [str(g) for g in gpus]
        if not devices:
            raise ValueError(f"Argument `gpus` found no GPU on this host. Received: gpus={gpus!r}")
    else:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(
                f"Argument `workers` must be an integer >= 1. Received: workers={workers!r}")
        devices = [None] * workers
    if timeout is not None and not timeout > 0:
        raise ValueError(f"Argument `timeout` must be > 0. Received: timeout={timeout!r}")
    port = port or free_port(host)
    base = dict(os.environ, **(env or {}),
                KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port))
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    logs = []  # the processes' log files, closed when they have ended

    def start(tuner_id, device):
        process_env = dict(base, KERASTUNER_TUNER_ID=tuner_id)
        if tuner_id == "chief":
            process_env["CUDA_VISIBLE_DEVICES"] = ""  # the oracle needs no GPU
        elif device is not None:
            process_env["CUDA_VISIBLE_DEVICES"] = device
        out = open(os.path.join(log_dir, f"{tuner_id}.log"), "w") if log_dir else None
        if out is not None:
            logs.append(out)
        return subprocess.Popen(command, env=process_env, stdout=out,
                                stderr=subprocess.STDOUT if out else None,
                                start_new_session=True)

    ids = ["chief"] + [f"tuner{i}" for i in range(len(devices))]
    processes = {"chief": start("chief", None)}
    try:
        if not _wait_for_port(host, port, processes["chief"], timeout or 600):
            raise RuntimeError(
                f"The keras-tuner chief did not start listening on {host}:{port} "
                f"(return code {processes['chief'].poll()}).")
        for tuner_id, device in zip(ids[1:], devices):
            processes[tuner_id] = start(tuner_id, device)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = {k: p.poll() for k, p in processes.items()}
            if all(c is not None for c in codes.values()):
                break
            if any(c not in (None, 0) for c in codes.values()):
                break  # one failed: end the others
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        ended = _end(list(processes.values()))
        for log in logs:
            log.close()
    return {k: None if p in ended else p.returncode for k, p in processes.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_lr.tuning.launch", description=__doc__.split("\n\n")[0],
        usage="%(prog)s (--workers N | --gpus all|0,1,...) [options] -- command ...")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--workers", type=int, help="number of CPU workers")
    group.add_argument("--gpus", help="'all' or a comma-separated list of GPU indices")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None, help="seconds")
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    gpus = None
    if args.gpus is not None:
        gpus = "all" if args.gpus == "all" else args.gpus.split(",")
    codes = launch(command, workers=args.workers, gpus=gpus, host=args.host,
                   port=args.port, timeout=args.timeout, log_dir=args.log_dir)
    for tuner_id, code in codes.items():
        print(f"{tuner_id}: {'ended by the launcher' if code is None else f'exit {code}'}")
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
