"""What older versions of this project wrote, read in today's form: every migration is here.

Checkpoints carry a format version (``FORMAT_KEY``). Each version below ``FORMAT_VERSION``
has one migration in ``CHECKPOINT_MIGRATIONS`` that brings a checkpoint to the next version;
a checkpoint is upgraded once, as it is read, so the rest of the code reads today's format
only. Checkpoints written before the version was stamped are version 1. A change to what a
checkpoint holds bumps ``FORMAT_VERSION`` and adds the migration from the previous one.

Run configs (``.hydra/config.yaml``) written before the package was split into sub-packages
name the old flat modules in their ``_target_`` strings, spell GPT-2's vocabulary out
(``vocab_size: 50257``, ``eos_id: 50256``) and choose their scheduler by ``name:`` instead of
a ``_target_``; runs from before ``last.ckpt`` was linked name Lightning's ``ModelCheckpoint``
for the default checkpoint callbacks. :func:`upgrade_config` maps them to today's names, so
old runs are still found by ``resume=auto`` and compared with new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpt_experiments.errors import CheckpointError
from gpt_experiments.model import GPTConfig

# The key of the format version in a checkpoint's top-level dict, and today's version.
FORMAT_KEY = "gpt_experiments_format"
FORMAT_VERSION = 2
# Checkpoints without FORMAT_KEY: everything written before it existed.
UNVERSIONED = 1

# Old ``_target_`` -> today's.
RENAMED_TARGETS = {
    "gpt_experiments.callbacks.TextSamples": "gpt_experiments.training.callbacks.samples.TextSamples",
    "gpt_experiments.throughput.SpeedMonitor": "gpt_experiments.training.callbacks.throughput.SpeedMonitor",
    "gpt_experiments.pretrained_init.PretrainedInit": (
        "gpt_experiments.training.callbacks.pretrained_init.PretrainedInit"
    ),
    "gpt_experiments.distributed.fsdp_strategy": "gpt_experiments.training.distributed.fsdp_strategy",
    "gpt_experiments.training.callbacks.checkpoints.LinkedLastCheckpoint": (
        "gpt_experiments.checkpoints.retention.LinkedLastCheckpoint"
    ),
}
# conf/callbacks/default.yaml's checkpoint callbacks, by name: their old class -> today's.
LINKED_LAST = "gpt_experiments.checkpoints.retention.LinkedLastCheckpoint"
RENAMED_CALLBACKS = {
    name: ("lightning.pytorch.callbacks.ModelCheckpoint", LINKED_LAST)
    for name in ("model_checkpoint", "last_checkpoint")
}
# Old ``scheduler.name`` -> the ``_target_`` of the factory that replaced it.
SCHEDULER_NAMES = {
    "constant": "gpt_experiments.training.schedules.constant_schedule",
    "warmup_cosine": "gpt_experiments.training.schedules.warmup_cosine_schedule",
}


def upgrade_scheduler(spec: dict[str, Any] | None) -> dict[str, Any]:
    """A scheduler spec in today's ``_target_`` form; ``None`` (very old runs) is constant."""
    spec = dict(spec or {"name": "constant"})
    if "name" in spec and "_target_" not in spec:
        spec["_target_"] = SCHEDULER_NAMES[spec.pop("name")]
    return spec


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A plain run config (``OmegaConf.to_container``) with old names replaced by today's."""
    upgraded = renamed_callbacks(renamed_targets(config))
    if isinstance(upgraded.get("scheduler"), dict):
        upgraded["scheduler"] = upgrade_scheduler(upgraded["scheduler"])
    return gpt2_sizes_as_null(upgraded)


def gpt2_sizes_as_null(config: dict[str, Any]) -> dict[str, Any]:
    """With GPT-2's tokenizer (the only one before the tokenizer group), ``model.vocab_size:
    50257`` and ``sampler.eos_id: 50256``, which configs wrote then, mean what today's ``null``
    and ``eot`` mean: written the same, old and new configs of one run compare equal."""
    if (config.get("tokenizer") or {"kind": "gpt2"}).get("kind") != "gpt2":
        return config
    upgraded = dict(config)
    for group, key, gpt2_value, today in (
        ("model", "vocab_size", 50257, None),
        ("sampler", "eos_id", 50256, "eot"),
    ):
        node = upgraded.get(group)
        if isinstance(node, dict) and node.get(key) == gpt2_value:
            upgraded[group] = {**node, key: today}
    return upgraded


def drop_key(config: dict[str, Any], dotted: str) -> None:
    """Remove ``a.b.c`` from a nested plain dict, if it is there."""
    *parents, leaf = dotted.split(".")
    node: Any = config
    for parent in parents:
        node = node.get(parent, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node.pop(leaf, None)


def renamed_targets(node: Any) -> Any:
    """``node`` with every old ``_target_`` in it, at any depth, renamed."""
    if isinstance(node, list):
        return [renamed_targets(item) for item in node]
    if not isinstance(node, dict):
        return node
    renamed = {key: renamed_targets(value) for key, value in node.items()}
    target = renamed.get("_target_")
    if isinstance(target, str):
        renamed["_target_"] = RENAMED_TARGETS.get(target, target)
    return renamed


def renamed_callbacks(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the default checkpoint callbacks' old class renamed (see RENAMED_CALLBACKS)."""
    callbacks = config.get("callbacks")
    if not isinstance(callbacks, dict):
        return config
    upgraded = dict(callbacks)
    for name, (old, today) in RENAMED_CALLBACKS.items():
        node = upgraded.get(name)
        if isinstance(node, dict) and node.get("_target_") == old:
            upgraded[name] = {**node, "_target_": today}
    return {**config, "callbacks": upgraded}


def checkpoint_format(checkpoint: dict[str, Any], source: object = "checkpoint") -> int:
    """The format version of a loaded checkpoint; one written by a newer version is refused
    (its settings or states may mean something this version would misread)."""
    version = checkpoint.get(FORMAT_KEY, UNVERSIONED)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} is in checkpoint format {version}, newer than the {FORMAT_VERSION} this "
            "gpt-experiments reads: upgrade gpt-experiments (pip install -U gpt-experiments)"
        )
    return version


def upgrade_checkpoint(checkpoint: dict[str, Any], source: object = "checkpoint") -> dict[str, Any]:
    """``checkpoint`` brought to ``FORMAT_VERSION`` in place (and returned), one migration per version."""
    for version in range(checkpoint_format(checkpoint, source), FORMAT_VERSION):
        CHECKPOINT_MIGRATIONS[version](checkpoint)
    checkpoint[FORMAT_KEY] = FORMAT_VERSION
    return checkpoint


def stamp_format(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Mark a checkpoint being written as today's format."""
    checkpoint[FORMAT_KEY] = FORMAT_VERSION
    return checkpoint


def _from_unversioned(checkpoint: dict[str, Any]) -> None:
    """Version 1 -> 2. Version 1 checkpoints may lack model settings added since (each one's
    default is what the model did before it existed), may lack the tokenizer (GPT-2's was the
    only one), may name the scheduler by ``name:``, keep one RNG state for all ranks, and
    may lack the spike guard's count of consecutive skips (there was no cap: none counted)."""
    hparams = checkpoint.get("hyper_parameters")
    if isinstance(hparams, dict):
        if isinstance(hparams.get("model"), dict):
            hparams["model"] = {**GPTConfig().to_dict(), **hparams["model"]}
        if hparams.get("tokenizer") is None:
            hparams["tokenizer"] = {"kind": "gpt2"}
        if "scheduler" in hparams:
            hparams["scheduler"] = upgrade_scheduler(hparams["scheduler"])
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if key.startswith("RNGStateCheckpoint") and "ranks" not in state:
            checkpoint["callbacks"][key] = {"ranks": [state]}
        if key.startswith("SkipSpikes"):
            state.setdefault("consecutive", 0)


CHECKPOINT_MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {UNVERSIONED: _from_unversioned}


def data_position_in_windows(state: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """The data module's saved position in today's units. Version 1 counted it in batches of
    the run's per-device batch size (``batches_done``); only the data module knows that size,
    so it calls this when it restores its state."""
    if "batches_done" not in state:
        return state
    return {"epoch": state["epoch"], "windows_done": state["batches_done"] * batch_size}
