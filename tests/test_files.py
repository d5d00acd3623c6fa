"""gpt_experiments/files.py: what writes killed half-way leave is removed by the next write."""

from __future__ import annotations

import os
import subprocess
import sys

from gpt_experiments.files import HOST, atomic_write, killed_writes, staging_folder


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(process.stdout)


def test_atomic_write_removes_the_temporaries_of_killed_writes_of_its_file(tmp_path):
    target = tmp_path / "model.ckpt"
    killed = tmp_path / f".model.ckpt.tmp{dead_pid()}@{HOST}"  # a convert --to project killed mid-save
    killed.write_bytes(b"x" * 1000)
    live = tmp_path / f".model.ckpt.tmp{os.getppid()}"  # another process's write in progress
    live.write_bytes(b"y")
    other = tmp_path / f".other.ckpt.tmp{dead_pid()}"
    other.write_bytes(b"z")
    assert killed_writes(target) == [killed]

    atomic_write(target, lambda f: f.write(b"whole"))

    assert target.read_bytes() == b"whole"
    assert not killed.exists() and live.exists() and other.exists()


def test_another_machines_temporaries_are_left_alone(tmp_path):
    """A token cache shared by the nodes of a run: another node's process ids say nothing here,
    so its folder being built is not taken for a killed one (nor is its file)."""
    entry = tmp_path / "cache" / "abc123"
    remote = tmp_path / "cache" / f".abc123.tmp{dead_pid()}@another-node"
    remote.mkdir(parents=True)
    old_style = tmp_path / "cache" / f".abc123.tmp{dead_pid()}"  # from before hosts were named
    old_style.mkdir()

    staging = staging_folder(entry)

    assert staging.name == f".abc123.tmp{os.getpid()}@{HOST}" and staging.is_dir()
    assert remote.is_dir() and not old_style.exists()
