"""Sharded training: the strategies ``conf/trainer/fsdp.yaml`` (FSDP1) and ``fsdp2.yaml`` (FSDP2) build."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy
from torch.distributed._composable import checkpoint
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard

from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPT, Block

# full: one ordinary checkpoint file gathered on rank 0; sharded: a torch.distributed.checkpoint folder.
CHECKPOINT_FORMATS = ("full", "sharded")


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


class FSDP2Strategy(ModelParallelStrategy):
    """FSDP2 (``torch.distributed.fsdp.fully_shard``): every rank holds a slice of each parameter.

    Lightning's ``ModelParallelStrategy`` sets up the processes and a device mesh; the
    sharding itself is applied by :func:`shard_blocks`, which ``GPTLitModule.configure_model``
    calls when it finds this strategy.
    """

    def __init__(
        self, activation_checkpointing: bool = False, checkpoint: str = "full", **options: Any
    ) -> None:
        if checkpoint not in CHECKPOINT_FORMATS:
            raise ConfigError(
                f"trainer.strategy.checkpoint={checkpoint!r} is invalid: "
                f"choose one of {', '.join(CHECKPOINT_FORMATS)}"
            )
        super().__init__(save_distributed_checkpoint=checkpoint == "sharded", **options)
        self.activation_checkpointing = activation_checkpointing

    def setup_environment(self) -> None:
        # Data parallel only: all processes, on all nodes, form the one data-parallel mesh
        # dimension (Lightning's "auto" would put the processes of a node on a tensor-parallel one).
        self._data_parallel_size = self.num_nodes * self.num_processes
        self._tensor_parallel_size = 1
        super().setup_environment()


def shard_blocks(model: GPT, mesh: DeviceMesh, activation_checkpointing: bool = False) -> None:
    """Shard ``model`` in place: one FSDP2 unit per :class:`Block`, the rest in the root unit.

    As with FSDP1, the tied ``wte``/``lm_head`` weight stays in the root unit. Units are
    applied bottom-up, so each Block's parameters leave the root's. Activation checkpointing
    uses the composable ``checkpoint``, which, unlike a wrapper module, keeps parameter names
    (and so checkpoints) unchanged.
    """
    for block in model.h:
        if activation_checkpointing:
            checkpoint(block)
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
