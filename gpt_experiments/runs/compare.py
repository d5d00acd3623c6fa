"""Rank the runs of a sweep (or any folder of runs) by validation loss.

Writes ``comparison.csv`` (one row per run, with its setting's statistics over seeds) and
``comparison.png`` (every run's validation loss against tokens seen and, when settings were
repeated over seeds, their mean +- std) into the compared folder; ``scripts/compare_runs.py``
is the CLI.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # without pyplot: no display, no global figure state

from gpt_experiments.errors import UserError
from gpt_experiments.runs.records import RunRecord, find_run_dirs, read_run
from gpt_experiments.runs.repeats import SettingStats, group_by_setting, has_repeats, setting_label

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
    # The run's setting (its overrides but the seed) over all its seeds.
    "setting",
    "setting_n",
    "setting_mean_best_val_loss",
    "setting_std_best_val_loss",
    "p_value_vs_best",
    "significant",
)


def ranked(records: list[RunRecord]) -> list[RunRecord]:
    """Lowest best validation loss first; runs that diverged (NaN) next; pruned, then failed runs last."""
    return sorted(
        records,
        key=lambda r: (r.failed, r.pruned is not None, math.isnan(r.best_val_loss), r.best_val_loss),
    )


def common_overrides(records: list[RunRecord]) -> list[str]:
    """Overrides every run shares (the sweep's fixed settings), in the first run's order."""
    shared = set.intersection(*(set(r.overrides) for r in records)) if len(records) > 1 else set()
    return [o for o in records[0].overrides if o in shared] if records else []


def label(record: RunRecord, common: list[str]) -> str:
    """What sets the run apart: its own overrides, or its folder when it has none."""
    own = [o for o in record.overrides if o not in common]
    return " ".join(own) or record.name


def format_table(records: list[RunRecord], common: list[str]) -> str:
    """Ranked runs, one per line; failed runs show their error, pruned ones are marked so."""
    header = f"{'rank':>4}  {'best val loss':>13}  {'final val loss':>14}  {'final ppl':>10}"
    header += f"  {'tokens/s':>9}  {'wall time':>9}  run"
    lines = [header]
    for rank, record in enumerate(records, start=1):
        if record.failed:
            lines.append(f"{'-':>4}  {'FAILED':>13}  {label(record, common)}: {record.error}")
            continue
        pruned = f"  PRUNED: {record.pruned}" if record.pruned else ""
        lines.append(
            f"{rank:>4}  {record.best_val_loss:>13.4f}  {record.final_val_loss:>14.4f}"
            f"  {record.final_val_ppl:>10.2f}  {record.tokens_per_sec:>9.0f}"
            f"  {record.wall_time_s:>8.1f}s  {label(record, common)}{pruned}"
        )
    return "\n".join(lines)


def setting_columns(group: SettingStats, common: list[str]) -> dict[str, object]:
    """The CSV columns every run of ``group`` shares; empty where a statistic does not exist."""
    return {
        "setting": setting_label(group, common),
        "setting_n": group.n,
        "setting_mean_best_val_loss": group.mean if group.n else "",
        "setting_std_best_val_loss": group.std if group.n >= 2 else "",
        "p_value_vs_best": "" if group.p_value is None else group.p_value,
        "significant": "" if group.p_value is None else group.significant,
    }


def write_csv(records: list[RunRecord], groups: list[SettingStats], common: list[str], path: Path) -> None:
    setting_of_run = {id(run): group for group in groups for run in group.runs}
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for rank, record in enumerate(records, start=1):
            writer.writerow(
                {
                    "rank": "" if record.failed else rank,
                    "run": record.name,
                    "status": record.status,
                    "best_val_loss": record.best_val_loss,
                    "final_val_loss": record.final_val_loss,
                    "final_val_ppl": record.final_val_ppl,
                    "tokens_per_sec": record.tokens_per_sec,
                    "wall_time_s": record.wall_time_s,
                    "overrides": " ".join(record.overrides),
                    "error": record.error or "",
                    **setting_columns(setting_of_run[id(record)], common),
                }
            )


def plot_val_curves(ax: Axes, groups: list[SettingStats], common: list[str], by_setting: bool) -> None:
    """Validation loss against tokens seen, one line per run that has results.

    With ``by_setting``, the runs of one setting share a colour and one legend entry.
    """
    for group in groups:
        color = None
        for run in group.runs:
            if not run.history:
                continue
            name = setting_label(group, common) if by_setting else label(run, common)
            line = ax.plot(
                [row["tokens_seen"] for row in run.history],
                [row["val_loss"] for row in run.history],
                marker=".",
                color=color,
                alpha=0.7 if by_setting else 1.0,
                label=name if color is None or not by_setting else None,
            )[0]
            if by_setting:
                color = line.get_color()
    ax.set_xlabel("Tokens seen")
    ax.set_ylabel("Validation loss")
    ax.set_title("Validation loss of each run")
    if ax.lines:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_setting_means(ax: Axes, groups: list[SettingStats], common: list[str]) -> None:
    """Each setting's mean best val loss with +-1 std error bars, best at the top; * marks p < 0.05."""
    shown = [group for group in groups if group.n]
    rows = range(len(shown))
    ax.errorbar(
        [group.mean for group in shown],
        rows,
        xerr=[0.0 if group.n < 2 else group.std for group in shown],
        fmt="o",
        capsize=4,
    )
    ax.set_yticks(
        rows, [f"{setting_label(group, common)}  (n={group.n})" for group in shown], fontsize="small"
    )
    ax.invert_yaxis()
    for row, group in enumerate(shown):
        spread = "" if group.n < 2 else f" ± {group.std:.3f}"
        ax.annotate(
            f"{group.mean:.3f}{spread}{' *' if group.significant else ''}",
            (group.mean, row),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    ax.margins(x=0.15, y=0.15)
    ax.set_xlabel("Best validation loss: mean ± std over seeds")
    ax.set_title("Settings (* : p < 0.05 against the best, Welch's t-test)", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)


def plot_comparison(groups: list[SettingStats], common: list[str], path: Path) -> None:
    """The run curves; beside them, with repeated settings, the settings' means and spreads."""
    repeats = has_repeats(groups)
    fig = Figure(figsize=(14, 5) if repeats else (8, 4.5), layout="constrained")
    if repeats:
        curves, means = fig.subplots(1, 2, width_ratios=[1.1, 1])
        plot_val_curves(curves, groups, common, by_setting=True)
        plot_setting_means(means, groups, common)
    else:
        plot_val_curves(fig.subplots(), groups, common, by_setting=False)
    fig.savefig(path, dpi=120)


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
    groups = group_by_setting(records)
    write_csv(records, groups, common, root / CSV_NAME)
    plot_comparison(groups, common, root / PLOT_NAME)
    return records, common
