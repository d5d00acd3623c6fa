"""Sharded checkpoints: folders written by ``torch.distributed.checkpoint`` (DCP), one slice per rank.

With ``trainer=fsdp2 trainer.strategy.checkpoint=sharded`` every rank writes its own slices of
the weights and optimizer state in parallel, instead of gathering everything on rank 0.
The folder (still named ``last.ckpt``) holds DCP's ``.metadata`` and ``__<rank>_0.distcp``
files and Lightning's ``meta.pt`` (step, loops, callbacks, hyperparameters). DCP records
each tensor's global shape, so a folder written by N processes loads in M.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

from gpt_experiments.convert.project import CheckpointError, atomic_torch_save, safe_torch_load

LIGHTNING_META = "meta.pt"  # Lightning's name for the non-tensor part of a sharded checkpoint
DCP_METADATA = ".metadata"  # written last by DCP: a folder without it is incomplete


def is_sharded_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / DCP_METADATA).is_file() and (path / LIGHTNING_META).is_file()


def staging_path(path: Path) -> Path:
    """Where a sharded checkpoint is written before it replaces ``path``."""
    return path.with_name(f"{path.name}.partial")


def replace_folder(new: Path, path: Path) -> None:
    """Put the complete folder ``new`` in place of ``path``.

    A folder cannot be swapped in one rename. The old one is first renamed to
    ``<name>.previous.ckpt`` (still found and loaded by ``resume=``), so a crash at any point
    leaves a complete checkpoint behind.
    """
    previous = path.with_name(f"{path.stem}.previous{path.suffix}")
    if previous.exists():
        shutil.rmtree(previous)
    if path.exists():
        path.rename(previous)
    new.rename(path)
    if previous.exists():
        shutil.rmtree(previous)


def consolidate(sharded: Path, output: Path) -> dict[str, Any]:
    """Gather a sharded checkpoint into one file that generate, evaluate and convert read.

    The file holds the full weights and the run's settings; the optimizer state is left out
    (resume a run from the sharded folder itself). Written atomically; returns its contents.
    """
    if not is_sharded_checkpoint(sharded):
        raise CheckpointError(
            f"{sharded} is not a complete sharded checkpoint (a folder with {DCP_METADATA} and "
            f"{LIGHTNING_META}): pass a folder written with trainer.strategy.checkpoint=sharded"
        )
    meta = safe_torch_load(sharded / LIGHTNING_META)
    with tempfile.TemporaryDirectory() as scratch:
        gathered = Path(scratch) / "gathered.pt"
        dcp_to_torch_save(sharded, gathered)  # reads every rank's slices in this one process
        state = safe_torch_load(gathered)
    checkpoint = {**meta, "state_dict": state["state_dict"]}
    atomic_torch_save(checkpoint, output)
    return checkpoint
