"""A marker file that tells tools like compare_runs that a run failed, and why."""

from __future__ import annotations

from pathlib import Path

FAILED_MARKER = "FAILED"


def mark_failed(run_dir: str | Path, message: str) -> None:
    """Leave ``FAILED`` with the error message in the run's folder."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / FAILED_MARKER).write_text(message.rstrip() + "\n")


def failure_message(run_dir: str | Path) -> str | None:
    """The message a failed run left, or None if it did not fail."""
    marker = Path(run_dir) / FAILED_MARKER
    return marker.read_text().strip() if marker.is_file() else None


def clear_failed(run_dir: str | Path) -> None:
    """Drop the marker once the run has finished (e.g. resumed after a stop)."""
    (Path(run_dir) / FAILED_MARKER).unlink(missing_ok=True)
