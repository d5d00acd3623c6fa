"""Reading torch.distributed.checkpoint (DCP) folders without running code from them.

DCP itself reads a folder's ``.metadata`` with a plain ``pickle.load``, and each non-tensor
value in its ``.distcp`` files (an optimizer's ``lr``, ``betas``, ...) with
``torch.load(weights_only=False)``: a planted pickle in either runs whatever it says. Here
the metadata is unpickled with an allowlist of the classes DCP writes there, and the
non-tensor values with ``weights_only=True``. :func:`check_sharded_checkpoint` checks a folder
before anything else reads it (and gives the one-line error); :class:`SafeFileSystemReader`
is the reader every load then hands to DCP, so a file changed after the check is refused too.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.metadata import BytesStorageMetadata, Metadata, StorageMeta
from torch.distributed.checkpoint.planner import LoadPlan, LoadPlanner, ReadItem

from gpt_experiments.errors import CheckpointError, UnsafeCheckpointError, refusal_reason

DCP_METADATA = ".metadata"  # written last by DCP: a folder without it is incomplete

# Everything torch 2.13's DCP pickles into .metadata, read off real checkpoints of this
# project (written by one and by two processes, synchronously and asynchronously).
METADATA_GLOBALS: dict[str, frozenset[str]] = {
    "torch.distributed.checkpoint.metadata": frozenset(
        {
            "Metadata",
            "MetadataIndex",
            "StorageMeta",
            "TensorStorageMetadata",
            "BytesStorageMetadata",
            "ChunkStorageMetadata",
            "TensorProperties",
            "_MEM_FORMAT_ENCODING",
        }
    ),
    "torch.distributed.checkpoint.filesystem": frozenset({"_StorageInfo"}),
    # Tensor shapes and dtypes; a layout is pickled as a lookup of its name.
    "torch": frozenset(
        {"Size", *(name for name, value in vars(torch).items() if isinstance(value, torch.dtype))}
    ),
    "torch.serialization": frozenset({"_get_layout"}),
    # StorageMeta.checkpoint_id: the folder it was written to, as the writer's path type.
    "pathlib": frozenset({"PosixPath", "WindowsPath"}),
}


class MetadataUnpickler(pickle.Unpickler):
    """Builds only the classes in :data:`METADATA_GLOBALS`; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if name in METADATA_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it unpickles {module}.{name}, which DCP metadata never holds")


def read_dcp_metadata(path: Path) -> Metadata:
    """A DCP ``.metadata`` file, unpickled through :class:`MetadataUnpickler`."""
    try:
        with open(path, "rb") as f:
            metadata = MetadataUnpickler(f).load()
    except pickle.UnpicklingError as err:
        raise refusal(path, str(err)) from None
    except OSError:
        raise
    # Only allowlisted constructors ran: any other failure is a damaged file, not a bug here.
    except Exception as err:
        raise unreadable(path, err) from None
    if not isinstance(metadata, Metadata):
        raise unreadable(path, TypeError(type(metadata).__name__))
    return metadata


def refusal(path: Path, reason: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"{path} was refused: {reason} and could run code; this sharded checkpoint was altered "
        "or not written by torch.distributed.checkpoint: only load checkpoints from a source you trust"
    )


def unreadable(path: Path, err: Exception) -> CheckpointError:
    return CheckpointError(
        f"{path} is not readable DCP metadata ({type(err).__name__}): the sharded checkpoint is "
        "truncated or corrupt; use another checkpoint of the run"
    )


def check_pickled_value(value: BinaryIO, file: Path) -> None:
    """Refuse a non-tensor value, read from ``file``, that unpickles more than plain data."""
    try:
        torch.load(value, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = refusal_reason(err)
        raise refusal(file, f"a value in it is not plain data ({reason})") from None
    finally:
        value.seek(0)


class CheckedBytesPlanner:
    """Stands in for DCP's planner while a reader reads: each non-tensor value is checked with
    ``weights_only=True`` before the planner (which unpickles it without) gets it."""

    def __init__(self, planner: LoadPlanner, reader: FileSystemReader) -> None:
        self._planner = planner
        self._reader = reader

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        file = self._reader.storage_data[read_item.storage_index].relative_path
        check_pickled_value(value, Path(self._reader.path) / file)
        self._planner.load_bytes(read_item, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._planner, name)  # everything but load_bytes is the planner's own


class SafeFileSystemReader(FileSystemReader):
    """DCP's file reader, with the metadata and non-tensor values read as described above."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        metadata = read_dcp_metadata(Path(self._get_metadata_path(kwargs.get("rank"))))
        # What FileSystemReader.read_metadata adds to what it unpickled.
        if metadata.storage_meta is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata

    def read_data(self, plan: LoadPlan, planner: LoadPlanner) -> Any:
        return super().read_data(plan, CheckedBytesPlanner(planner, self))


def check_sharded_checkpoint(folder: Path) -> Metadata:
    """Refuse ``folder`` in one line if its metadata or any non-tensor value could run code.

    The non-tensor values are few and small (an optimizer's settings), so all are read here;
    the tensors are read by ``torch.load(weights_only=True)`` in DCP anyway.
    """
    metadata = read_dcp_metadata(folder / DCP_METADATA)
    values = [
        key for key, item in metadata.state_dict_metadata.items() if isinstance(item, BytesStorageMetadata)
    ]
    planner = DefaultLoadPlanner(flatten_state_dict=False)  # the keys are already DCP's flat ones
    reader = SafeFileSystemReader(folder)
    try:
        planner.set_up_planner(dict.fromkeys(values), metadata, is_coordinator=True)
        reader.set_up_storage_reader(metadata, is_coordinator=True)
        reader.read_data(planner.create_local_plan(), planner).wait()
    except CheckpointError:
        raise
    # DCP reports metadata that does not fit its files with AssertionError, among others.
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, AssertionError) as err:
        raise CheckpointError(
            f"{folder} is a damaged sharded checkpoint ({type(err).__name__}: {str(err)[:120]}): "
            "its metadata does not match its .distcp files; use another checkpoint of the run"
        ) from None
    return metadata
