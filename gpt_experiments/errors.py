"""Errors caused by the user's input (config, data, files), as opposed to bugs.

Entry points print these as one line, without a traceback, and exit non-zero.
"""

import re
import sys


class UserError(ValueError):
    """Base class: the message alone tells the user what is wrong and how to fix it."""


class ConfigError(UserError):
    """A configuration value is out of range or inconsistent."""


class DataError(UserError):
    """A data file is missing, empty, undecodable or too short."""


class CheckpointError(UserError):
    """A file is missing, unreadable, unsafe or not a checkpoint of this project."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds pickled code: refused, and never passed over for an older one."""


# Terminal colour codes, e.g. "\x1b[1m": torch's refusal text contains some.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def refusal_reason(err: BaseException) -> str:
    """The first line of a library's refusal (torch colours its text), short enough for one line."""
    return ANSI_ESCAPE.sub("", str(err)).splitlines()[0][:120]


def warn(message: str) -> None:
    """A one-line warning for the user, on stderr beside the ``error: ...`` lines."""
    print(f"warning: {message}", file=sys.stderr)
