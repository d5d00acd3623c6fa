"""Composing the config from command-line overrides, with Hydra's errors said in one line.

Hydra reports a typo in a key or a group option as a multi-line message (with the config
search path); here the same mistakes become a ``ConfigError`` that names the override and
the fix, e.g. ``unknown config key 'trainer.max_epoch' (did you mean trainer.max_epochs?)``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ValueType
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gpt_experiments.config import typed_override
from gpt_experiments.errors import ConfigError
from gpt_experiments.result_keys import SEED_KEY, is_result_neutral, result_settings
from gpt_experiments.training.extras import check_sweep_extras


def compose_config(conf_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    """The config ``scripts/`` would run with (including ``hydra``), or a one-line ``ConfigError``."""
    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
        try:
            return compose(config_name, overrides=overrides, return_hydra_config=True)
        except OverrideParseException as err:
            raise ConfigError(_parse_error_message(err, overrides)) from None
        except MissingConfigException as err:
            raise ConfigError(_unknown_option_message(overrides) or _first_line(err)) from None
        except ConfigCompositionException as err:
            raise ConfigError(_composition_error_message(err, config_name, overrides)) from None
        except ValueError as err:  # Hydra's answer to `group=null`
            raise ConfigError(
                f"{_first_line(err)}: to remove a config group write ~group, e.g. ~logger"
            ) from None
        except HydraException as err:
            raise ConfigError(f"cannot compose the config: {_first_line(err)}") from None


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """For ``-m``: override lists that, between them, use every swept value once.

    The first list takes each sweep's first value; each further list changes one sweep to
    another value. Composing these finds any unknown key or option in a grid with one
    composition per value instead of one per job. Interval sweeps (for optimizing sweepers)
    cannot be listed, so they are left out.
    """
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except OverrideParseException as err:
        raise ConfigError(_parse_error_message(err, overrides)) from None
    choices: list[list[str]] = []
    for override in parsed:
        key = override.input_line.split("=", 1)[0]
        if not override.is_sweep_override():
            choices.append([override.input_line])
        elif override.value_type in (
            ValueType.CHOICE_SWEEP,
            ValueType.SIMPLE_CHOICE_SWEEP,
            ValueType.RANGE_SWEEP,
        ):
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
    first = [options[0] for options in choices]
    variants = [first]
    for position, options in enumerate(choices):
        variants += [[*first[:position], option, *first[position + 1 :]] for option in options[1:]]
    return variants


def check_sweep(conf_dir: Path, config_name: str, overrides: list[str]) -> list[str]:
    """For ``-m``: every swept key and group option must exist before any job starts.

    Values are left to each job (``train()`` validates them), so one bad point of a grid
    does not stop the others. Returns the overrides to hand to Hydra: these, plus the keys
    set to one value for the whole sweep added to ``exclude_keys``, so job folders (and
    TensorBoard run names) show only what varies between the jobs.
    """
    variants = sweep_variants(overrides)
    for variant in variants:
        cfg = compose_config(conf_dir, config_name, variant)
    check_sweep_extras(cfg)
    excluded = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    # A search that repeats each trial over seeds sets the seed per job: keep it in folder names.
    per_job_seed = cfg.hydra.sweeper.get("seeds_per_trial") is not None
    excluded += [
        key for key in fixed_keys(overrides) if key not in excluded and not (per_job_seed and key == SEED_KEY)
    ]
    listed = ",".join(f"'{key}'" for key in excluded)
    return [*overrides, f"hydra.job.config.override_dirname.exclude_keys=[{listed}]"]


def fixed_keys(overrides: list[str]) -> list[str]:
    """Keys a sweep's command line sets to a single value (the same in every job)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        o.key_or_group for o in parsed if not o.is_sweep_override() and not o.key_or_group.startswith("hydra")
    ]


def resolved_result_settings(cfg: DictConfig) -> dict[str, Any]:
    """What decides a composed config's results: its dotted keys but the seed and the neutral ones
    (result_keys.py), interpolations resolved, as JSON-ready values.

    Neutral keys stand as placeholders while resolving, so ``${paths.output_dir}/checkpoints`` reads
    the same in every job folder, and ``${hydra:...}`` needs no running Hydra.
    """
    config = OmegaConf.to_container(cfg, resolve=False)
    config.pop("hydra", None)
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(_neutral_as_placeholders(config)), resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot resolve the config: {_first_line(err)}") from None
    return result_settings(resolved)


def _neutral_as_placeholders(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``node`` with every value under a result-neutral key replaced by ``<key>``."""
    replaced: dict[str, Any] = {}
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            replaced[name] = _neutral_as_placeholders(value, f"{key}.")
        else:
            replaced[name] = f"<{key}>" if is_result_neutral(key) else value
    return replaced


def check_override_syntax(overrides: list[str]) -> None:
    """A one-line ``ConfigError`` for the first override Hydra's grammar refuses (for commands
    that hand their overrides to Hydra without composing them first)."""
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as bad:
            raise ConfigError(
                f"cannot parse override '{override}' ({_first_line(bad)}): {_parse_fix(override, bad)}"
            ) from None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


def _parse_error_message(err: OverrideParseException, overrides: list[str]) -> str:
    try:
        check_override_syntax(overrides)
    except ConfigError as bad:
        return str(bad)
    return _first_line(err)


def _parse_fix(override: str, err: HydraException) -> str:
    """How to write an override Hydra's grammar refused."""
    key, equals, value = override.partition("=")
    if equals and needs_quotes(value, err):
        # Unquoted values may hold only letters, digits and a few signs (ASCII only): a path
        # with e.g. accents, spaces, "=" or "," (run folders named before this project left
        # those out) needs quotes, kept from the shell by outer quotes.
        return f"quote the value, e.g. {typed_override(key, value)}"
    return "write key=value, e.g. model=tiny"


def needs_quotes(value: str, err: HydraException) -> bool:
    """Whether Hydra refused ``value`` for a character it reads as its own syntax (or cannot read)."""
    if "token recognition error" in str(err):
        return True
    # A sweep (a,b) or a second key=value are refused differently: only a value that reads as a
    # path holding "=" or "," is taken for one.
    return "/" in value and any(sign in value for sign in "=,") and not value.startswith(("[", "{"))


def _unknown_option_message(overrides: list[str]) -> str | None:
    """``unknown option 'model=gpt3' for group model; available: ...`` for the first bad group choice."""
    loader = GlobalHydra.instance().config_loader()
    for override in OverridesParser.create().parse_overrides(overrides):
        group = override.key_or_group
        if not loader.repository.group_exists(group):
            continue
        options = loader.get_group_options(group)
        if override.value() not in options:
            return (
                f"unknown option '{group}={override.value()}' for group {group}; "
                f"available: {', '.join(sorted(options))}"
            )
    return None


def _composition_error_message(
    err: ConfigCompositionException, config_name: str, overrides: list[str]
) -> str:
    cause = err.__cause__
    key = getattr(cause, "full_key", None) if isinstance(cause, OmegaConfBaseException) else None
    if not key:
        return _first_line(err)
    base = compose(config_name, overrides=_group_choices(overrides), return_hydra_config=True)
    known = _keys(base)
    guess = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {guess[0]}?" if guess else f"add it with +{key}=... if it is a new key"
    return f"unknown config key '{key}' ({hint})"


def _group_choices(overrides: list[str]) -> list[str]:
    """The overrides that pick group options: they decide which keys the config has."""
    loader = GlobalHydra.instance().config_loader()
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.input_line for o in parsed if loader.repository.group_exists(o.key_or_group)]


def _keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of ``cfg``, nested ones included."""

    def walk(node: object, prefix: str) -> list[str]:
        if not isinstance(node, dict):
            return []
        keys = []
        for name, child in node.items():
            keys += [f"{prefix}{name}", *walk(child, f"{prefix}{name}.")]
        return keys

    return walk(OmegaConf.to_container(cfg, resolve=False), "")
