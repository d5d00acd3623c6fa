"""Command-line parsing for the argparse commands: a mistake in the arguments is one line.

argparse's own report is the usage block and ``<prog>: error: ...``; every other mistake in
this project is one ``error: <problem>: <fix>`` line, so :class:`CommandParser` reports
argument mistakes the same way (exit status 2, argparse's status for a usage error).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NoReturn


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error:`` line pointing to ``--help``."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}: see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    """An argparse type: an integer of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or a positive integer")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (``nan`` and ``inf`` are mistakes, not values)."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def path_argument(text: str) -> Path:
    """An argparse type: a path. An empty one (an unset shell variable, ``""``) would name the
    current folder and quietly read or write there."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file or folder: pass a path")
    return Path(text)


def first_paragraph(doc: str | None) -> str:
    """A module docstring's first paragraph on one line, for ``--help``: its first line alone
    cut sentences off mid-way (``Gather ...: python scripts/consolidate_checkpoint.py``)."""
    return " ".join((doc or "").split("\n\n")[0].split())
