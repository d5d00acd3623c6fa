"""Marker files that tell tools like compare_runs that a run failed, or was stopped early by a search."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gpt_experiments.run_folder.provenance import legs, read_provenance

FAILED_MARKER = "FAILED"
# Left by the Optuna pruning callback: the run stopped because it looked worse than earlier trials.
PRUNED_MARKER = "PRUNED"
# Held (flock) by the process training in the run folder: gpt_experiments/training/run_lock.py.
LOCK_FILE = ".lock"


def _mark(run_dir: str | Path, marker: str, message: str) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / marker).write_text(message.rstrip() + "\n")


def _message(run_dir: str | Path, marker: str) -> str | None:
    path = Path(run_dir) / marker
    return path.read_text().strip() if path.is_file() else None


def mark_failed(run_dir: str | Path, message: str) -> None:
    """Leave ``FAILED`` with the error message in the run's folder."""
    _mark(run_dir, FAILED_MARKER, message)


def failure_message(run_dir: str | Path) -> str | None:
    """The message a failed run left, or None if it did not fail."""
    return _message(run_dir, FAILED_MARKER)


def mark_pruned(run_dir: str | Path, message: str) -> None:
    """Leave ``PRUNED`` with the reason in the run's folder."""
    _mark(run_dir, PRUNED_MARKER, message)


def pruned_message(run_dir: str | Path) -> str | None:
    """Why a search stopped the run early, or None if it was not pruned."""
    return _message(run_dir, PRUNED_MARKER)


def clear_failed(run_dir: str | Path) -> None:
    """Drop the marker once the run has finished (e.g. resumed after a stop)."""
    (Path(run_dir) / FAILED_MARKER).unlink(missing_ok=True)


def in_use(run_dir: str | Path) -> bool:
    """Whether a live process holds the run folder's lock, i.e. trains there now."""
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # never locked (an older run), or unreadable: nobody can be shown to hold it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released with the descriptor, below
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def unended_message(run_dir: str | Path) -> str | None:
    """Why a run whose ``provenance.json`` never recorded how its last leg ended has no final
    result: it still runs, or it was killed (SIGKILL, out of memory, a lost machine) with no
    chance to leave ``FAILED``. None for runs that ended, and for runs without a record."""
    record = read_provenance(run_dir)
    if record is None or legs(record)[-1].get("outcome") != "running":
        return None
    if in_use(run_dir):
        return "still running: its results so far are not final"
    return "killed before it ended (provenance.json records no end): continue it with resume=<its folder>"
