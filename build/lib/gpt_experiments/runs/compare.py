"""Rank the runs of a sweep (or any folder of runs) by validation loss.

Writes ``comparison.csv`` (one row per run) and ``comparison.png`` (every run's validation
loss against tokens seen) into the compared folder; ``scripts/compare_runs.py`` is the CLI.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from matplotlib.figure import Figure  # without pyplot: no display, no global figure state

from gpt_experiments.errors import UserError
from gpt_experiments.runs.records import RunRecord, find_run_dirs, read_run

CSV_NAME = "comparison.csv"
PLOT_NAME = "comparison.png"
CSV_FIELDS = (
    "rank",
    "run",
    "status",
    "best_val_loss",
    "final_val_loss",
    "final_val_ppl",
    "tokens_per_sec",
    "wall_time_s",
    "overrides",
    "error",
)


def ranked(records: list[RunRecord]) -> list[RunRecord]:
    """Lowest best validation loss first; runs that diverged (NaN) next; failed runs last."""
    return sorted(records, key=lambda r: (r.failed, math.isnan(r.best_val_loss), r.best_val_loss))


def common_overrides(records: list[RunRecord]) -> list[str]:
    """Overrides every run shares (the sweep's fixed settings), in the first run's order."""
    shared = set.intersection(*(set(r.overrides) for r in records)) if len(records) > 1 else set()
    return [o for o in records[0].overrides if o in shared] if records else []


def label(record: RunRecord, common: list[str]) -> str:
    """What sets the run apart: its own overrides, or its folder when it has none."""
    own = [o for o in record.overrides if o not in common]
    return " ".join(own) or record.name


def format_table(records: list[RunRecord], common: list[str]) -> str:
    """Ranked runs, one per line; failed runs show their error instead of numbers."""
    header = f"{'rank':>4}  {'best val loss':>13}  {'final val loss':>14}  {'final ppl':>10}"
    header += f"  {'tokens/s':>9}  {'wall time':>9}  run"
    lines = [header]
    for rank, record in enumerate(records, start=1):
        if record.failed:
            lines.append(f"{'-':>4}  {'FAILED':>13}  {label(record, common)}: {record.error}")
            continue
        lines.append(
            f"{rank:>4}  {record.best_val_loss:>13.4f}  {record.final_val_loss:>14.4f}"
            f"  {record.final_val_ppl:>10.2f}  {record.tokens_per_sec:>9.0f}"
            f"  {record.wall_time_s:>8.1f}s  {label(record, common)}"
        )
    return "\n".join(lines)


def write_csv(records: list[RunRecord], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for rank, record in enumerate(records, start=1):
            writer.writerow(
                {
                    "rank": "" if record.failed else rank,
                    "run": record.name,
                    "status": "failed" if record.failed else "ok",
                    "best_val_loss": record.best_val_loss,
                    "final_val_loss": record.final_val_loss,
                    "final_val_ppl": record.final_val_ppl,
                    "tokens_per_sec": record.tokens_per_sec,
                    "wall_time_s": record.wall_time_s,
                    "overrides": " ".join(record.overrides),
                    "error": record.error or "",
                }
            )


def plot_val_curves(records: list[RunRecord], common: list[str], path: Path) -> None:
    """Validation loss against tokens seen, one line per run that has results."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for record in records:
        if record.history:
            tokens = [row["tokens_seen"] for row in record.history]
            ax.plot(
                tokens, [row["val_loss"] for row in record.history], marker=".", label=label(record, common)
            )
    ax.set_xlabel("Tokens seen")
    ax.set_ylabel("Validation loss")
    if ax.lines:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=120, bbox_inches="tight")


def compare_runs(root: str | Path) -> tuple[list[RunRecord], list[str]]:
    """Read, rank and write out every run under ``root``; returns the ranked runs and common overrides."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give a sweep folder (outputs/multirun/...) or outputs/runs")
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise UserError(f"no runs under {root}: no folder there has a .hydra/config.yaml")
    records = ranked([read_run(run_dir, root) for run_dir in run_dirs])
    common = common_overrides(records)
    write_csv(records, root / CSV_NAME)
    plot_val_curves(records, common, root / PLOT_NAME)
    return records, common
