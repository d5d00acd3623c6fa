"""Marker files that tell tools like compare_runs that a run failed, or was stopped early by a search."""

from __future__ import annotations

from pathlib import Path

FAILED_MARKER = "FAILED"
# Left by the Optuna pruning callback: the run stopped because it looked worse than earlier trials.
PRUNED_MARKER = "PRUNED"


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
