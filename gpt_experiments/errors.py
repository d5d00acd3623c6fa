"""Errors caused by the user's input (config, data, files), as opposed to bugs.

Entry points print these as one line, without a traceback, and exit non-zero.
"""

import errno
import os
import re
import stat
import sys
from pathlib import Path


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


# Lines of torch's refusal that say nothing about this file: its general preamble and a link.
GENERIC_REFUSAL = ("Weights only load failed", "Check the documentation")
SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def refusal_reason(err: BaseException) -> str:
    """The first whole sentence of a library's refusal that is about this file (torch colours
    its text and opens with a paragraph about its defaults), never cut mid-word."""
    lines = [line.strip() for line in ANSI_ESCAPE.sub("", str(err)).splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith(GENERIC_REFUSAL)]
    line = (specific or lines or [type(err).__name__])[0]
    return SENTENCE_END.split(line, maxsplit=1)[0]


def warn(message: str) -> None:
    """A one-line warning for the user, on stderr beside the ``error: ...`` lines."""
    print(f"warning: {message}", file=sys.stderr)


# What a path that is neither a regular file nor a folder is, by its stat mode.
SPECIAL_FILES = {
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISSOCK: "a socket",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
}


def missing_reason(path: Path) -> str:
    """Why ``path`` is not a file to read: absent, a link that leads nowhere, or a special file."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 reports a loop this way
            return "is a symbolic link loop"
        except OSError as err:
            if err.errno == errno.ELOOP:
                return "is a symbolic link loop"
            return f"is a symbolic link to {os.readlink(path)}, which does not exist"
    if path.exists():
        mode = path.stat().st_mode
        kind = next((name for test, name in SPECIAL_FILES.items() if test(mode)), "a special file")
        return "is a folder" if stat.S_ISDIR(mode) else f"is {kind}, not a file to read"
    return "does not exist"
