"""Run one of scripts/*.py until a chosen function has returned ``after`` times, then SIGKILL it:
a kill at a fixed moment (no chance to clean up), with no sleeps or races.

``target`` is ``module:attribute.path``, e.g. ``gpt_experiments.data.shards:ShardWriter._close``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, script_env

KILLER = """
import functools, importlib, os, runpy, signal, sys

script, target, after, *args = sys.argv[1:]
module, _, path = target.partition(":")
*owner_path, name = path.split(".")
owner = importlib.import_module(module)
for part in owner_path:
    owner = getattr(owner, part)
original, calls = getattr(owner, name), []


@functools.wraps(original)
def then_die(*a, **k):
    result = original(*a, **k)
    calls.append(1)
    if len(calls) == int(after):
        os.kill(os.getpid(), signal.SIGKILL)
    return result


setattr(owner, name, then_die)
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""


def run_killed(script: str, target: str, after: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``scripts/<script> args`` in ``cwd``, killed once ``target`` has returned ``after`` times."""
    script_path = str(ROOT / "scripts" / script)
    result = subprocess.run(
        [sys.executable, "-c", KILLER, script_path, target, str(after), *args],
        cwd=cwd,
        env=script_env(cwd),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    return result
