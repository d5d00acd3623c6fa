"""Checks of a composed config that run before any file is written or model is built.

Every group that configures something is checked against it: the class or function its
``_target_`` names (optimizer, scheduler, trainer, logger, init, each callback, and nested
targets such as ``trainer.strategy``), or the class the code builds from it (``GPTConfig``,
``WindowedData``, ``SamplerConfig``). Keys are checked against the signature and values
against the type hints, so a new argument there is checked without editing this file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal

from hydra.utils import get_object
from omegaconf import DictConfig

from gpt_experiments.config import resolved_values
from gpt_experiments.config_types import check_types, describe, matches
from gpt_experiments.data.windowed_data import WindowedData
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.sampling import SamplerConfig, sampler_and_prompts
from gpt_experiments.model import GPTConfig
from gpt_experiments.tokenizer import Tokenizer

# Groups without a ``_target_``: the code builds these classes from them.
BUILT_FROM = {"model": GPTConfig, "data": WindowedData, "sampler": SamplerConfig}
# Keys a group holds for the code around it rather than for the class it configures
# (optimizer.fused also takes "auto", resolved by optimizers.build_optimizer).
NOT_ARGUMENTS = {"sampler": {"prompts"}, "optimizer": {"fused"}}
# Model keys that set others by interpolation (``model=ladder``'s depth, head_dim), not GPTConfig's.
MODEL_SIZE_KNOBS = {"depth", "head_dim"}
# Arguments the code passes itself (e.g. the scheduler's optimizer): never offered as keys.
FILLED_IN = {"self", "params", "optimizer", "total_steps"}
# The run's own settings at the top of conf/train.yaml, typed as a group's arguments are
# (max_tokens and max_flops: check_budget; ckpt_path and resume: checked as paths).
MATMUL_PRECISIONS = Literal["highest", "high", "medium"]
RUN_SETTINGS: dict[str, Any] = {"seed": int, "compile": bool, "float32_matmul_precision": MATMUL_PRECISIONS}


def validate_config(cfg: DictConfig) -> None:
    """Raise a one-line ``ConfigError`` for the first wrong type, range or inconsistency."""
    validate_settings(cfg)
    validate_targets(cfg)


def validate_settings(cfg: DictConfig) -> None:
    """The groups this project builds its own classes from (model, data, sampler).

    Checking them imports nothing beyond the project, so the train command runs these
    checks before :func:`validate_targets`, which loads Lightning (seconds).
    """
    check_types(cfg, RUN_SETTINGS)
    for group in cfg:
        if group in BUILT_FROM:
            check_group(str(group), cfg[group])
    check_budget(cfg)
    model = GPTConfig(**model_values(cfg.model))  # validates ranges
    WindowedData(**resolved_values(cfg.data, "data"))  # validates ranges, reads nothing
    if cfg.data.max_length > model.context_length:
        raise ConfigError(
            f"data.max_length={cfg.data.max_length} exceeds model.context_length={model.context_length}, "
            "the size of the position table: lower data.max_length or raise model.context_length"
        )
    # A vocab_size that is set may itself be the mistake (too small for the tokenizer): the
    # sampler's ids are then checked against it once model_settings has checked it.
    check_sampler(cfg, model.vocab_size if cfg.model.get("vocab_size") is None else None)


def check_sampler(cfg: DictConfig, vocab_size: int | None) -> None:
    sampler, _ = sampler_and_prompts(resolved_values(cfg.sampler, "sampler"))
    sampler.validate(vocab_size)


def validate_targets(cfg: DictConfig) -> None:
    """The groups that name what they configure with ``_target_`` (trainer, logger, callbacks,
    optimizer, ...), checked against those classes: this imports them, Lightning's included."""
    for group in cfg:
        if group != "hydra" and group not in BUILT_FROM:
            check_group(str(group), cfg[group])
    check_training_length(cfg.trainer, budgeted=bool(cfg.get("max_tokens") or cfg.get("max_flops")))


def check_budget(cfg: DictConfig) -> None:
    """``max_tokens`` and ``max_flops``: positive numbers, and at most one of them."""
    budgets = {key: cfg.get(key) for key in ("max_tokens", "max_flops") if cfg.get(key) is not None}
    # As typed: Hydra reads 1e12 as the float 1000000000000.0.
    shown = {key: f"{value:g}" if isinstance(value, float) else value for key, value in budgets.items()}
    for key, value in budgets.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(
                f"{key}={shown[key]} is invalid: it must be a positive number, or null for none"
            )
    if len(budgets) == 2:
        raise ConfigError(
            f"max_tokens={shown['max_tokens']} and max_flops={shown['max_flops']} are two budgets "
            "for one run: set one of them and leave the other null"
        )


def architecture_values(node: DictConfig) -> dict[str, Any]:
    """The model group's resolved values as GPTConfig's arguments (size knobs left out)."""
    return {k: v for k, v in resolved_values(node, "model").items() if k not in MODEL_SIZE_KNOBS}


def model_values(node: DictConfig) -> dict[str, Any]:
    """The model group's values for the checks. ``vocab_size: null`` means the tokenizer's size,
    known once it is built (:func:`model_settings`); until then GPTConfig's default (GPT-2's) stands in."""
    values = architecture_values(node)
    if values.get("vocab_size") is None:
        values.pop("vocab_size", None)
    return values


def model_settings(model: dict[str, Any], tokenizer: Tokenizer) -> dict[str, Any]:
    """``model`` with ``vocab_size`` following the tokenizer: null takes its vocabulary size; a
    number must be at least that (larger leaves ids the tokenizer never produces)."""
    vocab_size = model.get("vocab_size")
    if vocab_size is None:
        return {**model, "vocab_size": tokenizer.vocab_size}
    if vocab_size < tokenizer.vocab_size:
        raise ConfigError(
            f"model.vocab_size={vocab_size} is smaller than {tokenizer.describe()}: "
            f"set model.vocab_size=null to follow the tokenizer, or at least {tokenizer.vocab_size}"
        )
    return model


def check_group(group: str, node: Any) -> None:
    """Check a group against what it configures; a group of named targets (callbacks) entry by entry."""
    if not isinstance(node, DictConfig):
        return
    if group in BUILT_FROM or "_target_" in node:
        values = model_values(node) if group == "model" else resolved_values(node, group)
        target = BUILT_FROM.get(group) or target_of(group, values["_target_"])
        check_installed(group, target)
        check_arguments(group, values, target)
        return
    for name, entry in node.items_ex(resolve=False):
        if isinstance(entry, DictConfig) and "_target_" in entry:
            check_group(f"{group}.{name}", entry)


def target_of(group: str, path: str) -> Callable[..., Any]:
    try:
        return get_object(path)
    except Exception:  # Hydra wraps the import error in several ways
        raise ConfigError(
            f"{group}._target_={path!r} cannot be imported: name an existing class or function"
        ) from None


def check_installed(group: str, target: Callable[..., Any]) -> None:
    """A class that names an optional package (``needs_package``, e.g. a tracker) needs it installed;
    the package's name is also the pip extra that installs it."""
    package = getattr(target, "needs_package", None)
    if isinstance(package, str) and importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"{group}: {target.__name__} needs {package}, which is not installed: "
            f"pip install 'gpt-experiments[{package}]' (or pip install {package})"
        )


def check_training_length(trainer: DictConfig, budgeted: bool = False) -> None:
    """Lightning's length settings, as it reads them: ``max_epochs=-1`` (or null with a step
    limit) trains until ``max_steps``, ``max_time`` or this project's budget (``max_tokens``,
    ``max_flops``: ``budgeted``) ends it."""
    if trainer.get("fast_dev_run"):
        return
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if max_epochs is not None and max_epochs < -1:
        raise ConfigError(
            f"trainer.max_epochs={max_epochs} is invalid: it must be positive, -1 to train until "
            "trainer.max_steps (or max_tokens), or null"
        )
    if max_steps < -1:
        raise ConfigError(
            f"trainer.max_steps={max_steps} is invalid: it must be positive, or -1 for no limit"
        )
    for key, value in (("max_epochs", max_epochs), ("max_steps", max_steps)):
        if value == 0:
            raise ConfigError(
                f"trainer.{key}=0 would train nothing: set a positive number, or -1 for no limit"
            )
    epoch_limit = max_epochs is not None and max_epochs > 0
    if not (epoch_limit or max_steps > 0 or budgeted or trainer.get("max_time")):
        raise ConfigError(
            f"trainer.max_epochs={max_epochs} and trainer.max_steps={max_steps} "
            "leave the run without an end: "
            "set trainer.max_epochs or trainer.max_steps to a positive number (or max_tokens)"
        )


def check_arguments(group: str, values: dict[str, Any], target: Callable[..., Any]) -> None:
    """Every key must be an argument of ``target`` and have a value its type hint allows."""
    parameters = inspect.signature(target).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = type_hints(target)
    for key, value in values.items():
        if key.startswith("_") or key in NOT_ARGUMENTS.get(group, ()):
            continue
        if key not in parameters and not takes_any:
            valid = [name for name in parameters if name not in FILLED_IN]
            # A setting left over from another member of the group (an experiment that set
            # scheduler.warmup_steps, then scheduler=constant) is removed with ~ on the command line.
            fix = f"use one of: {', '.join(valid)}" if valid else f"{target.__name__} takes no settings"
            raise ConfigError(
                f"{group}.{key} is not a setting of {target.__name__}: "
                f"remove it (~{group}.{key} on the command line) or {fix}"
            )
        hint = hints.get(key)
        if hint is not None and not matches(value, hint):
            raise ConfigError(f"{group}.{key}={value!r} has the wrong type: it must be {describe(hint)}")
        if isinstance(value, dict) and isinstance(value.get("_target_"), str):  # e.g. trainer.strategy
            check_arguments(f"{group}.{key}", value, target_of(f"{group}.{key}", value["_target_"]))


def type_hints(target: Callable[..., Any]) -> dict[str, Any]:
    """The argument type hints of a function, dataclass or class constructor."""
    is_constructor = inspect.isclass(target) and not dataclasses.is_dataclass(target)
    try:
        return typing.get_type_hints(target.__init__ if is_constructor else target)
    except (NameError, TypeError):  # hints naming what only type checkers import: check names only
        return {}
