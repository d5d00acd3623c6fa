"""Writing files so that a crash or a full disk never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gpt_experiments.errors import UserError

# The temporary names this project writes beside a file before renaming it into place, ending
# in the writer's process id: ".<name>.tmp<pid>" (history.csv, summary.json, shards),
# ".<name>.tmp<pid>@<host>" (atomic_write, folders being built: a token cache may be shared by
# the machines of a multi-node run), ".<name>.tmp<pid>.png" (plots) and ".<name>.link<pid>"
# (checkpoint links).
TEMPORARY_NAME = re.compile(r"\..+\.(?:tmp|link)(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9.-]+?))?(?:\.png)?")
# This machine's name as it goes into temporary names.
HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""

    def write(f: BinaryIO) -> None:
        try:
            torch.save(obj, f)
        except RuntimeError as err:
            if isinstance(err.__context__, OSError):
                # A full disk while torch writes through the file object; closing the zip
                # archive then fails too ("unexpected pos"), hiding the cause.
                raise err.__context__ from None
            if "write failed" not in str(err):
                raise  # not the disk: e.g. an object that cannot be pickled, a bug
            # torch's zip writer reports a failed write (a full disk) this way, without a path.
            raise write_failure(Path(path), err) from None

    atomic_write(path, write)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` into a temporary file beside ``path``, flushed to disk, then renamed over it.

    ``os.replace`` swaps the name in one step, so a crash or a full disk in the middle of a
    write leaves the previous file complete, and a process that has the old file
    memory-mapped (a model loaded from it) keeps reading the old contents instead of a file
    truncated under it. A failed write names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for killed in killed_writes(path):  # a checkpoint's size each: a rerun must not keep them
        with contextlib.suppress(OSError):  # e.g. a read-only folder: the write itself says so
            killed.unlink()
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is not None and str(err.filename) != str(tmp):
            raise
        # Name the file the user asked for, not our temporary one (a full disk names none).
        raise OSError(err.errno, err.strerror, str(path)) from None
    finally:
        # On a read-only disk even removing a missing file fails: that must not hide the cause.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    sync_directory(path.parent)


def temporary_path(path: Path) -> Path:
    """The name :func:`atomic_write` writes ``path`` under before renaming it into place."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}@{HOST}")


def killed_writes(path: Path) -> list[Path]:
    """Temporaries of ``path`` whose writers no longer run: writes of it killed half-way."""
    candidates = path.parent.glob(f".{glob.escape(path.name)}.tmp*")
    return [tmp for tmp in candidates if (match := TEMPORARY_NAME.fullmatch(tmp.name)) and stale(match)]


def stale(match: re.Match) -> bool:
    """Whether the process that named a temporary (``TEMPORARY_NAME``'s match) has ended. Another
    machine's never is: its process ids say nothing here, and its write may be under way."""
    if match["host"] not in (None, HOST):
        return False
    return not process_alive(int(match["pid"]))


def sync_directory(directory: Path) -> None:
    """Persist renames and links made in ``directory``, so a power loss cannot bring an old name back."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_failure(path: Path, err: RuntimeError) -> OSError:
    """An ``OSError`` naming ``path`` for torch's bare "PytorchStreamWriter ... file write failed"."""
    free = shutil.disk_usage(path.parent).free
    if free < 1 << 20:
        return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({free} bytes free)", str(path))
    return OSError(errno.EIO, f"writing failed ({str(err).splitlines()[0]})", str(path))


def check_outputs_free(outputs: Iterable[Path], overwrite: bool, folder: Path | None = None) -> None:
    """A command replaces a file that is already there only when told to (``--overwrite``).

    ``folder``: the outputs go into it, so it must be a folder (or not exist yet).
    """
    if folder is not None and folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder: choose a folder to write into")
    for path in outputs:
        if path.is_dir():
            raise UserError(f"{path} is a folder: choose a file name to write")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise UserError(
                f"{path} already exists: pass --overwrite to replace it, or choose another destination"
            )


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporaries under ``folder`` whose writer no longer runs: a save killed half-way.

    A live process's file (this one's included) is never among them.
    """
    found = []
    for path in folder.rglob(".*"):
        match = TEMPORARY_NAME.fullmatch(path.name)
        if match and path.is_file() and stale(match):
            found.append(path)
    return sorted(found)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete :func:`stale_temporaries` under ``folder``; returns the bytes freed."""
    freed = 0
    for path in stale_temporaries(folder):
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        freed += size
    return freed


def staging_folder(dest: Path) -> Path:
    """A new, empty folder beside ``dest`` to build it in; :func:`publish_folder` puts it in place.

    Those that killed processes left beside ``dest`` are removed first, so a rerun leaves none.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    for killed in killed_writes(dest):
        shutil.rmtree(killed, ignore_errors=True)
    staging = temporary_path(dest)
    shutil.rmtree(staging, ignore_errors=True)  # this process's own, from an earlier failed call
    staging.mkdir()
    return staging


def publish_folder(staging: Path, dest: Path) -> None:
    """Put the finished files of ``staging`` at ``dest``: staged beside ``dest``, in one rename
    (a kill leaves all of them or none); staged inside an existing ``dest``, one by one."""
    if staging.parent != dest:
        os.replace(staging, dest)
        sync_directory(dest.parent)
        return
    for path in sorted(staging.iterdir()):
        os.replace(path, dest / path.name)
    staging.rmdir()
    sync_directory(dest)
