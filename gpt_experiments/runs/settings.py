"""What setting a run is: its resolved config outside the seed and the result-neutral keys.

Two runs are one setting when those configs are equal, however their command lines were
spelled (``optimizer.lr=1e-3 seed=1`` and ``seed=2 optimizer.lr=0.001`` are one setting).
Runs whose config cannot be read are grouped by their overrides instead, parsed the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gpt_experiments.config import override_key, register_resolvers
from gpt_experiments.errors import DataError
from gpt_experiments.legacy import upgrade_config
from gpt_experiments.result_keys import SEED_KEY, flatten, is_result_neutral, result_settings
from gpt_experiments.run_folder.saved import saved_config

# Resolvers whose answer depends on the machine, environment or time that resolves them:
# compare_runs may run elsewhere and later than the run did, so their text is compared instead.
UNSTABLE_RESOLVERS = ("${fastest_precision:", "${oc.env:", "${now:")
# Stands in for a result-neutral value, so interpolations of it (``${paths.output_dir}/x``)
# resolve alike in every run.
NEUTRAL_PLACEHOLDER = "<result-neutral>"


def resolved_leaf(config: Any, key: str, raw: Any) -> Any:
    """The value of dotted ``key``, resolved when it can be outside a Hydra job, else its text."""
    if not isinstance(raw, str) or "${" not in raw or any(r in raw for r in UNSTABLE_RESOLVERS):
        return raw
    try:
        value = OmegaConf.select(config, key)
    except OmegaConfBaseException:  # e.g. ${hydra:runtime.output_dir}: only a running job knows
        return raw
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def settings_from_config(plain: dict[str, Any]) -> dict[str, Any]:
    """The dotted result settings of a saved config (``OmegaConf.to_container(resolve=False)``)."""
    flat = flatten(upgrade_config(plain))
    neutral = {key: NEUTRAL_PLACEHOLDER for key in flat if is_result_neutral(key) or key == SEED_KEY}
    config = OmegaConf.create(_nested({**flat, **neutral}))
    register_resolvers()
    resolved = {key: resolved_leaf(config, key, raw) for key, raw in flat.items()}
    return result_settings(_nested(resolved))


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def override_value(override: str) -> Any:
    """The value Hydra reads from ``key=value`` (``1e-3`` -> 0.001); the text if it does not parse."""
    try:
        return OverridesParser.create().parse_override(override).value()
    except HydraException:
        return override.partition("=")[2]


def settings_from_overrides(overrides: list[str]) -> dict[str, Any]:
    """Without a config: the overrides' keys and the values Hydra reads from them."""
    settings = {}
    for override in overrides:
        key = override_key(override)
        if key != SEED_KEY and not is_result_neutral(key):
            settings[key] = override_value(override)
    return settings


def read_settings(run_dir: Path) -> dict[str, Any] | None:
    """The run's result settings from its ``.hydra/config.yaml``; None when that is unreadable."""
    try:
        saved = OmegaConf.to_container(saved_config(run_dir), resolve=False)
    except DataError:
        return None
    return settings_from_config(saved) if saved else None


def identity(settings: dict[str, Any]) -> str:
    """A hashable, order-free spelling of ``settings``: equal for equal settings."""
    return json.dumps(settings, sort_keys=True, default=str)


def canonical(value: Any) -> str:
    """One spelling per value: ``1e-3`` and ``0.001`` both read 0.001; YAML's null/true/false."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, default=str).replace(" ", "")
    return str(value)


def differing_keys(settings: list[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in all of ``settings``, sorted."""
    keys = sorted({key for s in settings for key in s})
    missing = object()
    return [key for key in keys if len({identity({"v": s.get(key, missing)}) for s in settings}) > 1]


def label_of(settings: dict[str, Any], keys: list[str]) -> str:
    """``key=value`` for each of ``keys`` in canonical spelling (``key=(unset)`` where it is absent)."""
    return " ".join(f"{key}={canonical(settings[key]) if key in settings else '(unset)'}" for key in keys)
