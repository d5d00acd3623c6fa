"""Large test corpora made by repeating tiny Shakespeare."""

from __future__ import annotations

import shutil
from pathlib import Path

from gpt_experiments.config import asset_path

SHAKESPEARE_TRAIN_TOKENS = 301_966  # with the 90/10 split by characters


def repeated_shakespeare(path: Path, copies: int) -> Path:
    """Write tiny Shakespeare ``copies`` times over to ``path`` (streamed; kept if present)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            for _ in range(copies):
                with open(asset_path("tinyshakespeare.txt"), "rb") as source:
                    shutil.copyfileobj(source, out)
        tmp.replace(path)
    return path
