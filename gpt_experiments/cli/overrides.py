"""The commands that hand their command line to ``@hydra.main`` check its syntax first.

Hydra reports an override its grammar refuses (an unquoted ``prompt=héllo``, a value
with ``=``) with a traceback; here it is one line saying how to quote the value.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from gpt_experiments.cli.handler import exit_with_error
from gpt_experiments.errors import ConfigError
from gpt_experiments.training.compose import check_override_syntax

MULTIRUN_FLAGS = ("-m", "--multirun")


def parses_overrides_first(hydra_main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a ``@hydra.main`` function: unparsable overrides end the command in one line."""

    @functools.wraps(hydra_main)
    def run() -> None:
        # Hydra's other flags (--cfg job, --config-name x, ...) take values: Hydra parses those itself.
        if all(arg in MULTIRUN_FLAGS or not arg.startswith("-") for arg in sys.argv[1:]):
            try:
                check_override_syntax(sys.argv[1:])
            except ConfigError as err:
                exit_with_error(str(err))
        hydra_main()

    return run
