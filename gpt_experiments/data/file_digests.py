"""Content digests of corpus files, remembered by their stat so an unchanged corpus is not read again.

The token cache is keyed by the corpus' content, so a cache hit must know the files are
unchanged; hashing them costs a full read (seconds a gigabyte). Like git's index and
ccache's direct mode, a file whose inode, size and modification time (in ns) are the ones
recorded when it was hashed is taken as unchanged: writing a file in place sets a new
modification time, replacing it (cp, rsync, an editor's save) gives a new inode. A file
changed within ``RACY_NS`` of being hashed could keep its time on filesystems with coarse
timestamps, so such an entry is hashed again (git's "racy" rule).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gpt_experiments.data.text_stream import BLOCK_BYTES
from gpt_experiments.errors import DataError
from gpt_experiments.files import atomic_write

DIGESTS_FILE = "file_digests.json"  # in the token cache folder
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    has_text: bool  # holds a byte other than whitespace


def hash_file(path: Path) -> FileDigest:
    digest, has_text = hashlib.sha256(), False
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            digest.update(block)
            has_text = has_text or bool(block.strip())
    return FileDigest(digest.hexdigest(), has_text)


class FileDigests:
    """Digests of files, remembered in the JSON file ``store`` (``None``: hash every time)."""

    def __init__(self, store: Path | None = None) -> None:
        self.store = store
        self._entries: dict[str, dict] = {}
        self._changed = False
        if store is not None:
            with contextlib.suppress(OSError, ValueError):  # none yet, or unreadable: start afresh
                self._entries = json.loads(store.read_text())

    def of(self, path: Path) -> FileDigest:
        stat = path.stat()
        key, signature = str(path.resolve()), [stat.st_ino, stat.st_size, stat.st_mtime_ns]
        entry = self._entries.get(key)
        if entry and entry["stat"] == signature and entry["hashed_ns"] - stat.st_mtime_ns > RACY_NS:
            return FileDigest(entry["sha256"], entry["has_text"])
        hashed_ns = time.time_ns()  # before reading: a change made while hashing stays untrusted
        digest = hash_file(path)
        self._entries[key] = {"stat": signature, "hashed_ns": hashed_ns, **asdict(digest)}
        self._changed = True
        return digest

    def save(self) -> None:
        """Write new entries. Best effort: a read-only cache still serves hits, hashing each time."""
        if self.store is None or not self._changed:
            return
        with contextlib.suppress(OSError):  # whole or not at all, whoever else writes it
            atomic_write(self.store, lambda f: f.write(json.dumps(self._entries).encode()))


def files_digest(
    files: Iterable[Path], settings: str, digests: FileDigests | None = None, require_text: bool = False
) -> str:
    """One digest of the files' contents in order and of the settings that pick text out of them.

    ``require_text``: a file with nothing but whitespace is an error (text corpora).
    """
    digests = digests or FileDigests()
    combined = hashlib.sha256(settings.encode())
    for path in files:
        digest = digests.of(path)
        if require_text and not digest.has_text:
            raise DataError(f"{path} is empty: give a file with text in it")
        combined.update(f"\x00{digest.sha256}".encode())
    return combined.hexdigest()
