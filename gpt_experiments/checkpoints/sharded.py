"""Sharded checkpoints: folders written by ``torch.distributed.checkpoint`` (DCP), one slice per rank.

With ``trainer=fsdp2 trainer.strategy.checkpoint=sharded`` every rank writes its own slices of
the weights and optimizer state in parallel, instead of gathering everything on rank 0.
The folder (still named ``last.ckpt``) holds DCP's ``.metadata`` and ``__<rank>_0.distcp``
files and Lightning's ``meta.pt`` (step, loops, callbacks, hyperparameters). DCP records
each tensor's global shape, so a folder written by N processes loads in M.

DCP's own loaders would run code planted in such a folder: everything here reads it through
:mod:`gpt_experiments.checkpoints.safe_dcp` (checked first, then loaded with its reader).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.metadata import Metadata, TensorStorageMetadata
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from gpt_experiments.checkpoints.project import (
    check_weights_fit,
    checkpoint_model_config,
    model_weights,
    safe_torch_load,
)
from gpt_experiments.checkpoints.safe_dcp import DCP_METADATA, SafeFileSystemReader, check_sharded_checkpoint
from gpt_experiments.errors import CheckpointError
from gpt_experiments.files import atomic_torch_save
from gpt_experiments.legacy import upgrade_checkpoint

LIGHTNING_META = "meta.pt"  # Lightning's name for the non-tensor part of a sharded checkpoint
WEIGHTS = "state_dict"  # the key of the module's tensors in a sharded checkpoint (Lightning's)


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


def read_sharded_meta(folder: Path) -> dict[str, Any]:
    """Lightning's ``meta.pt`` of a sharded checkpoint, once the folder's DCP files pass
    :func:`check_sharded_checkpoint`: the one way in for everything that reads such a folder."""
    check_sharded_checkpoint(folder)
    return safe_torch_load(folder / LIGHTNING_META)


def read_checkpoint_settings(path: Path, mmap: bool = False) -> Any:
    """What a checkpoint holds besides its sharded tensors, in today's format: a file whole
    (``mmap``: mapped), a sharded folder's ``meta.pt`` (after its check)."""
    checkpoint = read_sharded_meta(path) if is_sharded_checkpoint(path) else safe_torch_load(path, mmap=mmap)
    return upgrade_checkpoint(checkpoint, path) if isinstance(checkpoint, dict) else checkpoint


def saved_model_weights(path: Path, checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The GPT's tensors a checkpoint holds, named as in the GPT, for their shapes: a file's
    (as ``checkpoint``, read by :func:`read_checkpoint_settings`, holds them), or a sharded
    folder's from its metadata (tensors on the meta device: nothing read or allocated)."""
    if not is_sharded_checkpoint(path):
        return model_weights(checkpoint.get(WEIGHTS) or {})
    return model_weights(empty_weights(SafeFileSystemReader(path).read_metadata(), device="meta"))


def load_sharded(
    folder: Path, module: nn.Module, optimizers: Sequence[torch.optim.Optimizer], strict: bool = True
) -> dict[str, Any]:
    """Load a sharded checkpoint into the (FSDP2) ``module`` and its ``optimizers``, in place;
    returns the rest (``meta.pt``) for Lightning to restore its loops and callbacks from.

    The steps of Lightning's ``ModelParallelStrategy``, with DCP given the safe reader.
    """
    meta = read_sharded_meta(folder)
    weights = {WEIGHTS: get_model_state_dict(module)}
    dcp.load(weights, storage_reader=SafeFileSystemReader(folder))
    module.load_state_dict(weights[WEIGHTS], strict=strict)
    for index, optimizer in enumerate(optimizers):
        key = f"optimizer_{index}"
        state = {key: get_optimizer_state_dict(module, optimizer)}
        dcp.load(state, storage_reader=SafeFileSystemReader(folder))
        options = StateDictOptions(cpu_offload=True)
        set_optimizer_state_dict(module, optimizer, optim_state_dict=state[key], options=options)
    return meta


def empty_weights(metadata: Metadata, device: str = "cpu") -> dict[str, torch.Tensor]:
    """An uninitialised tensor of the saved shape and dtype for each of the module's entries
    (on ``device``: "meta" gives the shapes without memory)."""
    prefix = f"{WEIGHTS}."
    return {
        name.removeprefix(prefix): torch.empty(item.size, dtype=item.properties.dtype, device=device)
        for name, item in metadata.state_dict_metadata.items()
        if name.startswith(prefix) and isinstance(item, TensorStorageMetadata)
    }


def check_sharded_model(folder: Path, meta: Any) -> None:
    """The folder's settings must name a GPT and its metadata hold exactly that GPT's tensors,
    checked on the meta device before anything is allocated: a folder without them would
    gather into a checkpoint of no weights, one with absurd sizes into all of the memory."""
    # The weights are in the DCP files, not in meta.pt: an empty entry stands in for them.
    config = checkpoint_model_config({**meta, WEIGHTS: {}} if isinstance(meta, dict) else meta, folder)
    check_weights_fit(config, saved_model_weights(folder, meta), folder)


def consolidate(sharded: Path, output: Path) -> dict[str, Any]:
    """Gather a sharded checkpoint into one file that generate, evaluate and convert read.

    The file holds the full weights and the run's settings; the optimizer state is neither
    read nor written (resume a run from the sharded folder itself). Written atomically;
    returns its contents.
    """
    if not is_sharded_checkpoint(sharded):
        raise CheckpointError(
            f"{sharded} is not a complete sharded checkpoint (a folder with {DCP_METADATA} and "
            f"{LIGHTNING_META}): pass a folder written with trainer.strategy.checkpoint=sharded"
        )
    if output.resolve().is_relative_to(sharded.resolve()):
        raise CheckpointError(
            f"{output} is inside the sharded checkpoint {sharded}, which the run's next save "
            "replaces whole: write the file outside that folder"
        )
    meta = read_checkpoint_settings(sharded)
    check_sharded_model(sharded, meta)
    weights = {WEIGHTS: empty_weights(SafeFileSystemReader(sharded).read_metadata())}
    with warnings.catch_warnings():  # one process reading every rank's slices is the intent here
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(weights, storage_reader=SafeFileSystemReader(sharded), no_dist=True)
    checkpoint = {**meta, WEIGHTS: weights[WEIGHTS]}
    atomic_torch_save(checkpoint, output)
    return checkpoint
