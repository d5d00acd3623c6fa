"""Configs and checkpoints written before the package was split into sub-packages.

Their ``_target_`` strings name the old flat modules, they spell GPT-2's vocabulary out
(``vocab_size: 50257``, ``eos_id: 50256``), and their scheduler is chosen by
``name:`` instead of a ``_target_``. This one table maps them to today's names, so that old
runs are still found by ``resume=auto`` and old checkpoints still build their scheduler.
Runs from before ``last.ckpt`` was linked name Lightning's ``ModelCheckpoint`` for the
default checkpoint callbacks; those two are read as today's class.
"""

from __future__ import annotations

from typing import Any

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
