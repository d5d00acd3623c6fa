"""Run a script in a new process forked from one that has already imported torch and Lightning.

Each end-to-end test runs scripts/*.py in a process of its own, and such a process spends
5-7 s importing torch and Lightning before its first line of work: most of the suite's time.
A multiprocessing forkserver imports them once per test worker and forks a fresh process for
each script: still its own process (its exit code, output, files, signals, DDP ranks it
starts), without paying the imports again. Only third-party libraries are preloaded, so the
project's own modules are imported afresh by every script, as a user's run would.

What a fresh interpreter imports is only visible in a plain subprocess: tests of that
(tests/cli/test_fast_errors.py) start one themselves.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
from functools import cache
from pathlib import Path

# Imported once by the forkserver (third-party only: the project's code is imported by each run).
PRELOAD = ["torch", "lightning.pytorch", "hydra", "omegaconf", "matplotlib.pyplot", "tiktoken"]


@cache
def forkserver() -> multiprocessing.context.ForkServerContext:
    """This worker's forkserver (started, and the libraries imported, when first used)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run_python(
    script: Path, args: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """``python script *args`` from ``cwd`` with environment ``env``, as
    ``subprocess.run(..., capture_output=True, text=True)`` would return it: forked from the
    preloaded process where the platform has a forkserver (not Windows), else started afresh."""
    command = [sys.executable, str(script), *args]
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as folder:
        stdout, stderr = Path(folder) / "stdout", Path(folder) / "stderr"
        for output in (stdout, stderr):  # read back even if the process dies before opening them
            output.touch()
        process = forkserver().Process(target=_become_script, args=(script, args, cwd, env, stdout, stderr))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout, stdout.read_text(), stderr.read_text())
        return subprocess.CompletedProcess(command, process.exitcode, stdout.read_text(), stderr.read_text())


def _become_script(
    script: Path, args: list[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path
) -> None:
    """In the forked process: set up what ``python script *args`` would have, then run it."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout), (2, stderr)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))  # as `python script` puts the script's folder first
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        # A forked process ends with os._exit: end as the interpreter would instead, first
        # joining threads (executors shut down their workers then), then the atexit handlers.
        threading._shutdown()
        atexit._run_exitfuncs()
