"""The tests' script runner (tests/helpers/preloaded.py) behaves as ``python script`` would:
its own process, folder, environment, arguments, output and exit code, and the project's
modules imported afresh (only third-party libraries are preloaded)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.preloaded import run_python

SCRIPT = """
import os, sys
from pathlib import Path
print("argv", sys.argv[1:], "cwd", Path.cwd().name, "env", os.environ.get("RUNNER_CHECK"))
print("sys.path[0] is the script's folder", sys.path[0] == str(Path(__file__).parent))
print("project modules", sorted(name for name in sys.modules if name.startswith("gpt_experiments")))
print("torch preloaded", "torch" in sys.modules)
print("pid differs", os.getpid() != int(os.environ["RUNNER_PARENT"]))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "scripts" / "check.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    (tmp_path / "here").mkdir()
    return path


def env_with(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", **extra}


def test_a_script_runs_as_python_would_run_it(script, tmp_path):
    env = env_with(RUNNER_CHECK="yes", RUNNER_PARENT=str(os.getpid()))
    result = run_python(script, ["3", "x y"], tmp_path / "here", env, timeout=60)
    assert result.returncode == 3
    assert result.stdout.splitlines() == [
        "argv ['3', 'x y'] cwd here env yes",
        "sys.path[0] is the script's folder True",
        "project modules []",
        "torch preloaded True",
        "pid differs True",
    ]
    assert result.stderr == "to stderr\n"


def test_an_uncaught_exception_exits_1_with_its_traceback(tmp_path):
    crash = tmp_path / "crash.py"
    crash.write_text("raise ValueError('broken on purpose')\n")
    result = run_python(crash, [], tmp_path, env_with(), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "ValueError: broken on purpose"


def test_a_script_past_its_timeout_is_killed(tmp_path):
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired) as stopped:
        run_python(sleeper, [], tmp_path, env_with(), timeout=3)
    assert stopped.value.cmd == [sys.executable, str(sleeper)]
    assert stopped.value.output == "started\n"  # what it wrote before the kill
