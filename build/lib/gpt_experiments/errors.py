"""Errors caused by the user's input (config, data, files), as opposed to bugs.

Entry points print these as one line, without a traceback, and exit non-zero.
"""

import sys


class UserError(ValueError):
    """Base class: the message alone tells the user what is wrong and how to fix it."""


class ConfigError(UserError):
    """A configuration value is out of range or inconsistent."""


class DataError(UserError):
    """A data file is missing, empty, undecodable or too short."""


def warn(message: str) -> None:
    """A one-line warning for the user, on stderr beside the ``error: ...`` lines."""
    print(f"warning: {message}", file=sys.stderr)
