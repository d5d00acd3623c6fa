"""Errors caused by the user's input (config, data, files), as opposed to bugs.

Entry points print these as one line, without a traceback, and exit non-zero.
"""


class UserError(ValueError):
    """Base class: the message alone tells the user what is wrong and how to fix it."""


class ConfigError(UserError):
    """A configuration value is out of range or inconsistent."""


class DataError(UserError):
    """A data file is missing, empty, undecodable or too short."""
