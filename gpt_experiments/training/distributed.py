"""Sharded training: the strategies ``conf/trainer/fsdp.yaml`` (FSDP1) and ``fsdp2.yaml`` (FSDP2) build."""

from __future__ import annotations

import shutil
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy
from torch.distributed._composable import checkpoint as recompute_in_backward
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard

from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPT, Block
from gpt_experiments.training.sharded_checkpoint import (
    LIGHTNING_META,
    is_sharded_checkpoint,
    load_sharded,
    replace_folder,
    staging_path,
)

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
        self,
        activation_checkpointing: bool = False,
        checkpoint: str = "full",
        async_save: bool = False,
        **options: Any,
    ) -> None:
        if checkpoint not in CHECKPOINT_FORMATS:
            raise ConfigError(
                f"trainer.strategy.checkpoint={checkpoint!r} is invalid: "
                f"choose one of {', '.join(CHECKPOINT_FORMATS)}"
            )
        if async_save and checkpoint != "sharded":
            raise ConfigError(
                "trainer.strategy.async_save=true needs trainer.strategy.checkpoint=sharded "
                "(a full checkpoint is gathered and written by rank 0)"
            )
        super().__init__(save_distributed_checkpoint=checkpoint == "sharded", **options)
        self.activation_checkpointing = activation_checkpointing
        self.async_save = async_save
        # An asynchronous save still being written: (its future, staging folder, final path).
        self._pending: tuple[Future, Path, Path] | None = None
        self._save_group: dist.ProcessGroup | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any = None) -> None:
        """Sharded checkpoints are written to a staging folder that then replaces the old one,
        so a crash in the middle of a save leaves the previous checkpoint loadable."""
        if not self._save_distributed_checkpoint:
            super().save_checkpoint(checkpoint, filepath, storage_options)
            return
        path = Path(self.broadcast(str(filepath)))
        self.finish_pending_save()
        staging = staging_path(path)
        if self.global_rank == 0 and staging.exists():
            shutil.rmtree(staging)  # left by a save that crashed
        self.barrier("sharded_checkpoint_staging")
        if self.async_save:
            self._start_async_save(checkpoint, staging, path)
        else:
            super().save_checkpoint(checkpoint, staging, storage_options)
            self._put_in_place(staging, path)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """A sharded checkpoint is loaded through the safe reader (Lightning's own loader hands the
        folder to DCP, which unpickles its metadata and settings as they are)."""
        path = Path(self.broadcast(str(checkpoint_path)))
        if not is_sharded_checkpoint(path):
            return super().load_checkpoint(checkpoint_path, weights_only)
        return load_sharded(path, self.model, self.optimizers, strict=self.lightning_module.strict_loading)

    def _start_async_save(self, checkpoint: dict[str, Any], staging: Path, path: Path) -> None:
        """Copy this rank's slices to CPU memory now; a thread writes them while training goes on."""
        if self._save_group is None:
            # The writing thread's collectives must not interleave with training's: its own group.
            self._save_group = dist.new_group(backend="gloo")
        # The layout Lightning's synchronous sharded save writes, so either loads the same way.
        tensors = {"state_dict": checkpoint.pop("state_dict")}
        for index, optimizer_state in enumerate(checkpoint.pop("optimizer_states", [])):
            tensors[f"optimizer_{index}"] = optimizer_state
        if self.global_rank == 0:
            staging.mkdir(parents=True)
            torch.save(checkpoint, staging / LIGHTNING_META)
        future = dcp.async_save(tensors, checkpoint_id=staging, process_group=self._save_group)
        self._pending = (future, staging, path)

    def finish_pending_save(self) -> None:
        """Wait for the asynchronous save in flight, if any, and put it in place."""
        if self._pending is None:
            return
        future, staging, path = self._pending
        self._pending = None
        future.result()
        self._put_in_place(staging, path)

    def _put_in_place(self, staging: Path, path: Path) -> None:
        self.barrier("sharded_checkpoint_written")
        if self.global_rank == 0:
            replace_folder(staging, path)
        self.barrier("sharded_checkpoint_in_place")

    def teardown(self) -> None:
        self.finish_pending_save()  # the last checkpoint is complete before the run ends
        super().teardown()

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
            recompute_in_backward(block)
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
