"""The one way every command fails: a user's mistake is one line, a bug keeps its traceback.

A ``UserError`` (bad setting, refused checkpoint, unreadable data) or an ``OSError`` (a
missing, unreadable or unwritable path; a full disk) ends the command with
``error: <message>`` on stderr and exit status 1. Anything else is a bug in this project
and propagates with its traceback, so it can be reported and fixed.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

from gpt_experiments.config import path_override
from gpt_experiments.errors import UserError
from gpt_experiments.training.compose import check_override_syntax

P = ParamSpec("P")
R = TypeVar("R")


def describe_os_error(err: OSError) -> str:
    """``<path>: <reason>`` for a failed file operation, e.g. ``outputs/x: Permission denied``."""
    reason = err.strerror or str(err)
    if err.filename is None:
        return reason
    target = str(err.filename) + (f" -> {err.filename2}" if err.filename2 is not None else "")
    return f"{target}: {reason}"


def user_error_message(err: BaseException) -> str | None:
    """The one-line message for a user's mistake, or None when ``err`` is a bug."""
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, OSError):
        return describe_os_error(err)
    return None


def exit_with_error(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def exits_on_user_error(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command's body: user errors become ``error: ...`` and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (UserError, OSError) as err:
            exit_with_error(user_error_message(err) or str(err))

    return run


MULTIRUN_FLAGS = ("-m", "--multirun")


def path_overrides_in_argv() -> None:
    """The command line's path settings as Hydra should read them (:func:`path_override`)."""
    sys.argv[1:] = [arg if arg.startswith("-") else path_override(arg) for arg in sys.argv[1:]]


def checks_override_syntax_first(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a ``@hydra.main`` command: run from the command line, an override Hydra's
    grammar refuses (e.g. an unquoted path holding "=") is one ``error:`` line, not Hydra's
    report. Called with a config (tests), the command runs as it is."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # Hydra's flags besides -m take values (--config-name x, --cfg job): Hydra parses those itself.
        if (
            not args
            and not kwargs
            and all(arg in MULTIRUN_FLAGS or not arg.startswith("-") for arg in sys.argv[1:])
        ):
            path_overrides_in_argv()
            overrides = [arg for arg in sys.argv[1:] if arg not in MULTIRUN_FLAGS]
            exits_on_user_error(check_override_syntax)(overrides)
        return command(*args, **kwargs)

    return run
