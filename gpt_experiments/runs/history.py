"""A run's ``history.csv``: one row per validation, written whole so readers never see half
a file. Kept free of Lightning, so the seed-reproduction scripts and reports load fast."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

HISTORY_FIELDS = ("step", "epoch", "tokens_seen", "train_loss", "val_loss", "val_ppl")


def perplexity(loss: float) -> float:
    """exp(loss), capped before float overflow (a diverged run still gets a plottable value)."""
    return math.exp(min(loss, 700.0))


def write_history_csv(rows: list[dict[str, float]], output_dir: Path) -> None:
    """``output_dir/history.csv`` (``HISTORY_FIELDS``), replaced whole: a reader never sees half a file."""
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = output_dir / f".history.csv.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, output_dir / "history.csv")
