"""User mistakes end a CLI with one line on stderr, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a ``ValueError`` (bad setting, refused checkpoint) or ``OSError`` (unreadable file)
    into ``error: <message>`` and exit status 1."""
    try:
        yield
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
