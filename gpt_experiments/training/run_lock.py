"""One process at a time in a run folder: two commands resuming the same run would both
write its checkpoints, history and logs.

The lock is an ``flock`` on ``<run folder>/.lock``, held while the process lives. The kernel
drops it when the process ends, however it ends, so a lock left by a killed run is taken
over without asking. The file holds the owner's process id, for the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gpt_experiments.errors import UserError
from gpt_experiments.run_folder.status import LOCK_FILE

# Set by Lightning's launcher (and torchrun) in the processes it starts for ranks > 0.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK")

# Run folder -> open file descriptor of its lock, for the folders this process holds.
_held: dict[Path, int] = {}


class RunInUseError(UserError):
    """Another live process is writing into the run folder."""


def lock_run_dir(run_dir: str | Path) -> None:
    """Hold ``run_dir`` for this process, or raise ``RunInUseError`` naming the holder."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _held or not is_first_process():
        return  # multi-device runs: rank 0 holds the folder for all ranks, which share it
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunInUseError(
            f"{run_dir} is in use by process {holder}, which is still running there: "
            f"wait for it to end (or stop it: kill {holder}), then run this command again"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[run_dir] = fd


def is_first_process() -> bool:
    """Whether this is the process a user started (rank 0), not one a launcher added."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def release_run_dir(run_dir: str | Path) -> None:
    """Let other processes in (a sweep's later jobs do not need its earlier folders)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock
