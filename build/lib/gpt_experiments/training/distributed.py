"""Sharded training: the FSDP strategy that ``conf/trainer/fsdp.yaml`` builds."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.strategies import FSDPStrategy

from gpt_experiments.model import Block


def fsdp_strategy(
    sharding_strategy: str = "FULL_SHARD", activation_checkpointing: bool = False, **options: Any
) -> FSDPStrategy:
    """FSDP with one shard unit per transformer :class:`Block`.

    Everything outside the blocks (``wte``, ``wpe``, ``ln_f`` and ``lm_head``) lands in
    the root unit. That matters for the tied head: ``lm_head.weight`` *is* ``wte.weight``,
    and a tensor shared by two units could not be sharded consistently.
    """
    return FSDPStrategy(
        auto_wrap_policy={Block},
        activation_checkpointing_policy={Block} if activation_checkpointing else None,
        sharding_strategy=sharding_strategy,
        **options,
    )
