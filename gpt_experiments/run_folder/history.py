"""A run's ``history.csv``: one row per validation, written whole so readers never see half
a file. Kept free of Lightning, so the seed-reproduction scripts and reports load fast."""

from __future__ import annotations

import csv
import json
import math
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

# train_flops last: files written before it had the other columns in this order.
HISTORY_FIELDS = ("step", "epoch", "tokens_seen", "train_loss", "val_loss", "val_ppl", "train_flops")
# The closing summary's numbers, beside history.csv: what compare_runs reports as wall time.
SUMMARY_JSON = "summary.json"


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


def loss_points(history: list[dict[str, float]]) -> list[tuple[float, float]]:
    """(tokens seen, val loss) of every row where both are finite, by tokens."""
    rows = ((row.get("tokens_seen", math.nan), row.get("val_loss", math.nan)) for row in history)
    return sorted((tokens, loss) for tokens, loss in rows if math.isfinite(tokens) and math.isfinite(loss))


def val_loss_at_tokens(history: list[dict[str, float]], tokens: float) -> float:
    """The val loss at ``tokens`` seen, linear between the two validations around it; NaN
    outside the logged range (never extrapolated)."""
    points = loss_points(history)
    if not points or not points[0][0] <= tokens <= points[-1][0]:
        return math.nan
    for (t0, l0), (t1, l1) in pairwise(points):
        if t0 <= tokens <= t1:
            return l0 if t1 == t0 else l0 + (l1 - l0) * (tokens - t0) / (t1 - t0)
    return points[-1][1]  # a single point, at exactly ``tokens``


def write_summary_json(values: dict[str, Any], output_dir: Path) -> None:
    """``output_dir/summary.json``, replaced whole (NaN written as null)."""
    plain = {key: None if isinstance(v, float) and math.isnan(v) else v for key, v in values.items()}
    tmp = output_dir / f".{SUMMARY_JSON}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(plain, indent=1) + "\n")
    os.replace(tmp, output_dir / SUMMARY_JSON)


def read_summary_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json; None when it is missing, unreadable or not a JSON object."""
    try:
        summary = json.loads((run_dir / SUMMARY_JSON).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def recorded_wall_time(run_dir: Path) -> float:
    """The wall time the run's closing summary printed (all its legs); NaN without one."""
    value = (read_summary_json(run_dir) or {}).get("wall_time_s")
    return float(value) if isinstance(value, int | float) else math.nan
