"""Between Hydra's sweep syntax and Optuna: search spaces in, trials' values out as overrides.

``interval(a, b)`` is a continuous range (``int(interval(a, b))`` for integers,
``tag(log, interval(a, b))`` on a log scale); ``choice(x, y)``, ``x,y`` and
``range(start, stop, step)`` are unordered choices.
"""

from __future__ import annotations

import re
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from gpt_experiments.errors import ConfigError

# Values that need quotes on a Hydra command line.
_NEEDS_QUOTES = re.compile(r"[\s,=()\[\]{}'\"\\:$]")


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (``key=interval(...)``, ``key=a,b``, ...)."""
    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    if isinstance(sweep, ChoiceSweep | RangeSweep):
        return CategoricalDistribution(list(override.sweep_iterator()))
    raise ConfigError(
        f"{override.input_line}: unsupported sweep; use interval(a, b), choice(a, b) or range(a, b)"
    )


def split_overrides(lines: list[str]) -> tuple[list[str], dict[str, BaseDistribution]]:
    """The fixed overrides (as written) and the search space (key -> distribution) of ``lines``."""
    fixed: list[str] = []
    space: dict[str, BaseDistribution] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line)
    return fixed, space


def format_value(value: Any) -> str:
    """A parameter value as Hydra reads it back unchanged (floats in full precision)."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _NEEDS_QUOTES.search(text) or not text:
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    return text


def as_overrides(params: dict[str, Any]) -> list[str]:
    """``{"optimizer.lr": 0.001}`` -> ``["optimizer.lr=0.001"]``."""
    return [f"{key}={format_value(value)}" for key, value in params.items()]
