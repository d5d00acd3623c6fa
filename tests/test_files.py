"""gpt_experiments/files.py: what writes killed half-way leave is removed by the next write."""

from __future__ import annotations

import os
import subprocess
import sys

from gpt_experiments.files import atomic_write, killed_writes


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(process.stdout)


def test_atomic_write_removes_the_temporaries_of_killed_writes_of_its_file(tmp_path):
    target = tmp_path / "model.ckpt"
    killed = tmp_path / f".model.ckpt.tmp{dead_pid()}"  # a convert --to project killed mid-save
    killed.write_bytes(b"x" * 1000)
    live = tmp_path / f".model.ckpt.tmp{os.getppid()}"  # another process's write in progress
    live.write_bytes(b"y")
    other = tmp_path / f".other.ckpt.tmp{dead_pid()}"
    other.write_bytes(b"z")
    assert killed_writes(target) == [killed]

    atomic_write(target, lambda f: f.write(b"whole"))

    assert target.read_bytes() == b"whole"
    assert not killed.exists() and live.exists() and other.exists()
