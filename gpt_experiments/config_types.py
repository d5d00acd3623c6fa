"""Whether a config value fits a type hint, and a hint said in words.

Shared by the training config checks and generate.py's sampler checks: YAML gives plain
values (int, float, str, bool, None, lists, dicts) that must fit the hints of the classes
and functions they configure.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from gpt_experiments.errors import ConfigError


def matches(value: Any, hint: Any) -> bool:
    """Whether a config value fits a type hint; hints it cannot judge are accepted."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if isinstance(value, dict) and "_target_" in value:
        return True  # instantiated by Hydra into whatever it names
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, list | tuple)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(hint, type):  # str, bool, or a class such as Tensor that YAML cannot build
        return isinstance(value, hint)
    return True


def describe(hint: Any) -> str:
    """A type hint in words: ``int | None`` -> ``an integer or null``."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(arg) for arg in typing.get_args(hint)))
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    words = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
    if origin in (list, tuple) or hint in (list, tuple):
        return "a list"
    return words.get(hint, getattr(hint, "__name__", str(hint)))


def check_types(values: Mapping[str, Any], hints: Mapping[str, Any]) -> None:
    """A one-line ``ConfigError`` for the first of ``values`` that does not fit its hint (a
    command's own settings, e.g. ``seed=abc`` or ``stride=abc``, before anything uses them)."""
    for key, hint in hints.items():
        if key in values and not matches(values[key], hint):
            raise ConfigError(f"{key}={values[key]!r} has the wrong type: it must be {describe(hint)}")
