"""Text -> train/validation token arrays, tokenized once and cached on disk as uint16.

The cache key covers the text itself, the tokenizer and the split ratio, so editing a
file, switching tokenizer or changing ``train_ratio`` never reuses stale tokens.
Arrays are opened as memory maps: training reads windows without loading the corpus.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from gpt_experiments.tokenizer import END_OF_TEXT, GPT2_RANKS_SHA256, gpt2_tokenizer

SPLITS = ("train", "val")


def split_text(text: str, train_ratio: float) -> dict[str, str]:
    """Split by characters, as the seed does: the first ``train_ratio`` is training text."""
    split_at = int(train_ratio * len(text))
    return {"train": text[:split_at], "val": text[split_at:]}


def tokenize(text: str) -> np.ndarray:
    """GPT-2 token ids as uint16 (50257 ids fit); ``<|endoftext|>`` separates documents."""
    ids = gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT})
    return np.asarray(ids, dtype=np.uint16)


def cache_key(text: str, train_ratio: float) -> str:
    digest = hashlib.sha256()
    digest.update(text.encode("utf-8"))
    digest.update(f"|gpt2:{GPT2_RANKS_SHA256}|ratio:{train_ratio!r}".encode())
    return digest.hexdigest()[:24]


def _save_atomically(array: np.ndarray, path: Path) -> None:
    # Write then rename, so a crash never leaves a half-written file under the final name.
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def load_or_tokenize(text: str, train_ratio: float, cache_dir: str | Path | None) -> dict[str, np.ndarray]:
    """Token arrays per split, read from ``cache_dir`` when present (``None`` disables caching)."""
    if cache_dir is None:
        return {name: tokenize(part) for name, part in split_text(text, train_ratio).items()}
    folder = Path(cache_dir) / cache_key(text, train_ratio)
    paths = {name: folder / f"{name}.npy" for name in SPLITS}
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in split_text(text, train_ratio).items():
            _save_atomically(tokenize(part), paths[name])
    return {name: np.load(path, mmap_mode="r") for name, path in paths.items()}
