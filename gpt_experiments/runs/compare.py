"""Rank the runs of a sweep (or any folder of runs) by validation loss.

Runs are grouped into settings by their resolved configs (settings.py); each setting's losses
over seeds are compared with the best setting's (repeats.py, stats.py), once on the best val
loss and once on the val loss at the largest token count every run reached. Writes
``comparison.csv`` (one row per run, with its setting's statistics) and ``comparison.png``
(validation loss against tokens seen and, with repeats, each setting's mean and 95% CI) into
the compared folder; ``scripts/compare_runs.py`` is the CLI.
"""

from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # without pyplot: no display, no global figure state

from gpt_experiments.config import override_key
from gpt_experiments.errors import UserError
from gpt_experiments.result_keys import SEED_KEY, is_result_neutral
from gpt_experiments.run_folder.history import loss_points, val_loss_at_tokens
from gpt_experiments.runs.records import UNKNOWN, RunRecord, find_run_dirs, read_run
from gpt_experiments.runs.repeats import (
    METRICS,
    MetricTable,
    Setting,
    compare_settings,
    group_settings,
    has_repeats,
)
from gpt_experiments.runs.settings import differing_keys, label_of

CSV_NAME = "comparison.csv"
PLOT_NAME = "comparison.png"
RUN_FIELDS = (
    "rank",
    "run",
    "status",
    "setting",
    "seed",
    "best_val_loss",
    "val_loss_at_tokens",
    "tokens_compared",
    "final_val_loss",
    "final_val_ppl",
    "tokens_per_sec",
    "train_flops",
    "wall_time_s",
    "wall_time_source",
    "commit",
    "torch",
    "overrides",
    "error",
)
# The run's setting over all its seeds, once per compared loss (suffix: the METRICS key).
SETTING_FIELDS = (
    "setting_n",
    "setting_mean",
    "setting_std",
    "setting_ci_low",
    "setting_ci_high",
    "diff_vs_best",
    "diff_ci_low",
    "diff_ci_high",
    "hedges_g",
    "p_welch",
    "p_holm",
    "significant",
)
CSV_FIELDS = (*RUN_FIELDS, *(f"{name}_{metric}" for metric in METRICS for name in SETTING_FIELDS))
# Legend entries are wrapped to this many characters a line.
LEGEND_WRAP = 90


@dataclass
class Comparison:
    """Every run under a folder, ranked, with its settings and their statistics."""

    records: list[RunRecord]
    settings: list[Setting]
    by_overrides: bool  # some config was unreadable: settings come from the overrides
    tokens: float  # the token count every finished run reached (NaN if none can say)
    notes: list[str] = field(default_factory=list)  # what the comparison could not use, and why
    tables: dict[str, MetricTable] = field(default_factory=dict)  # by METRICS key

    def setting_of(self, record: RunRecord) -> Setting:
        return next(s for s in self.settings if any(run is record for run in s.runs))

    def run_label(self, record: RunRecord) -> str:
        """The run's setting, and its seed where the runs' seeds differ."""
        seeds = {str(r.seed) for r in self.records}
        seed = f" {SEED_KEY}={record.seed}" if len(seeds) > 1 else ""
        return f"{self.setting_of(record).label}{seed}"


def ranked(records: list[RunRecord]) -> list[RunRecord]:
    """Lowest best validation loss first; runs that diverged (NaN) next; pruned, then failed runs last."""
    return sorted(
        records,
        key=lambda r: (r.failed, r.pruned is not None, math.isnan(r.best_val_loss), r.best_val_loss),
    )


def common_overrides(records: list[RunRecord]) -> list[str]:
    """Overrides every run shares (a sweep's fixed settings), in the first run's order; context
    only: settings are told apart by their configs."""
    if len(records) < 2:
        return []
    shared = set.intersection(*(set(r.overrides) for r in records))
    return [o for o in records[0].overrides if o in shared and sets_result(o)]


def equal_tokens(records: list[RunRecord]) -> tuple[float, list[str]]:
    """Set each finished run's val loss at the largest token count all of them reached
    (interpolated between validations, never extrapolated); returns it and what was left out."""
    finished = [r for r in records if r.status == "ok"]
    notes = [
        f"{r.name}: no finite val loss with tokens seen in history.csv"
        for r in finished
        if not loss_points(r.history)
    ]
    usable = [r for r in finished if loss_points(r.history)]
    if not usable:
        return math.nan, notes
    tokens = min(loss_points(r.history)[-1][0] for r in usable)
    for record in usable:
        record.val_loss_at_tokens = val_loss_at_tokens(record.history, tokens)
        if math.isnan(record.val_loss_at_tokens):
            notes.append(f"{record.name}: first validation after {tokens:,.0f} tokens (no extrapolation)")
    return tokens, notes


def format_table(comparison: Comparison) -> str:
    """Ranked runs, one per line; failed runs show their error, pruned ones are marked so."""
    at = "-" if math.isnan(comparison.tokens) else f"{comparison.tokens:,.0f}"
    header = f"{'rank':>4}  {'best val loss':>13}  {'val loss @' + at:>16}  {'final val loss':>14}"
    header += (
        f"  {'final ppl':>10}  {'tokens/s':>9}  {'train FLOPs':>11}  {'wall time':>9}  {'commit':<11}  run"
    )
    lines = [header]
    for rank, record in enumerate(comparison.records, start=1):
        name = comparison.run_label(record)
        if record.failed:
            lines.append(f"{'-':>4}  {'FAILED':>13}  {name}: {record.error}")
            continue
        pruned = f"  PRUNED: {record.pruned}" if record.pruned else ""
        estimate = "~" if record.wall_time_source == "events" else " "
        lines.append(
            f"{rank:>4}  {record.best_val_loss:>13.4f}  {record.val_loss_at_tokens:>16.4f}"
            f"  {record.final_val_loss:>14.4f}  {record.final_val_ppl:>10.2f}  {record.tokens_per_sec:>9.0f}"
            f"  {record.train_flops:>11.3g}  {estimate}{record.wall_time_s:>7.1f}s"
            f"  {record.commit:<11}  {name}{pruned}"
        )
    return "\n".join(lines)


def provenance_warning(records: list[RunRecord]) -> str | None:
    """One line when the runs' code or torch differ: a difference between them may come from
    there rather than from their settings. Runs without a record (older runs) are left out."""
    known = [r for r in records if r.commits]
    commits = {commit for r in known for commit in r.commits}
    torch_versions = {version for r in known for version in r.torch_versions}
    dirty = sum(r.dirty for r in known)
    reasons = []
    if len(commits) > 1:
        reasons.append(f"{len(commits)} different commits")
    if dirty:
        reasons.append(f"uncommitted changes in {dirty} run{'s' if dirty > 1 else ''} (code.diff in each)")
    if len(torch_versions) > 1:
        reasons.append(f"torch {', '.join(sorted(torch_versions))}")
    if not reasons:
        return None
    return f"the runs' code differs: {'; '.join(reasons)}. Results may differ by code, not settings alone"


def _cell(value: float | None) -> float | str:
    return "" if value is None or math.isnan(value) else value


def setting_columns(comparison: Comparison, setting: Setting) -> dict[str, object]:
    """The CSV columns every run of ``setting`` shares; empty where a statistic does not exist."""
    columns: dict[str, object] = {}
    for metric, table in comparison.tables.items():
        row = table.row_of(setting)
        diff = row.vs_best
        values = {
            "setting_n": row.sample.n,
            "setting_mean": _cell(row.sample.mean),
            "setting_std": _cell(row.sample.std),
            "setting_ci_low": _cell(row.sample.ci[0]),
            "setting_ci_high": _cell(row.sample.ci[1]),
            "diff_vs_best": _cell(diff.diff if diff else None),
            "diff_ci_low": _cell(diff.ci[0] if diff else None),
            "diff_ci_high": _cell(diff.ci[1] if diff else None),
            "hedges_g": _cell(diff.hedges_g if diff else None),
            "p_welch": _cell(diff.p_value if diff else None),
            "p_holm": _cell(row.p_holm),
            "significant": "" if math.isnan(row.p_holm) else row.significant,
        }
        columns.update({f"{name}_{metric}": value for name, value in values.items()})
    return columns


def write_csv(comparison: Comparison, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for rank, record in enumerate(comparison.records, start=1):
            setting = comparison.setting_of(record)
            writer.writerow(
                {
                    "rank": "" if record.failed else rank,
                    "run": record.name,
                    "status": record.status,
                    "setting": setting.label,
                    "seed": "" if record.seed is None else record.seed,
                    "best_val_loss": record.best_val_loss,
                    "val_loss_at_tokens": _cell(record.val_loss_at_tokens),
                    "tokens_compared": "" if math.isnan(comparison.tokens) else int(comparison.tokens),
                    "final_val_loss": record.final_val_loss,
                    "final_val_ppl": record.final_val_ppl,
                    "tokens_per_sec": record.tokens_per_sec,
                    "train_flops": _cell(record.train_flops),
                    "wall_time_s": record.wall_time_s,
                    "wall_time_source": record.wall_time_source,
                    "commit": record.commit,
                    "torch": "+".join(record.torch_versions) or UNKNOWN,
                    "overrides": " ".join(record.overrides),
                    "error": record.error or "",
                    **setting_columns(comparison, setting),
                }
            )


def legend_text(number: int, setting: Setting) -> str:
    """``#1 optimizer.lr=0.001 (3 runs)``, wrapped so a long label takes lines, not width."""
    runs = len(setting.runs)
    count = f"({runs}\u00a0run{'' if runs == 1 else 's'})"  # a no-break space: never wrapped apart
    return textwrap.fill(f"#{number} {setting.label} {count}", LEGEND_WRAP)


def plot_val_curves(ax: Axes, comparison: Comparison) -> list[str]:
    """Validation loss against tokens seen, one colour per setting; returns the setting colours."""
    colors = []
    for number, setting in enumerate(comparison.settings, start=1):
        color = f"C{(number - 1) % 10}"
        colors.append(color)
        shown = [run for run in setting.runs if run.history]
        for index, run in enumerate(shown):
            ax.plot(
                [row["tokens_seen"] for row in run.history],
                [row["val_loss"] for row in run.history],
                marker=".",
                color=color,
                alpha=0.7,
                label=legend_text(number, setting) if index == 0 else None,
            )
    if not math.isnan(comparison.tokens):
        ax.axvline(comparison.tokens, color="grey", linestyle="--", linewidth=1, label="equal tokens")
    ax.set_xlabel("Tokens seen")
    ax.set_ylabel("Validation loss")
    ax.set_title("Validation loss of each run")
    return colors


def plot_setting_means(ax: Axes, table: MetricTable, colors: dict[int, str], numbers: dict[int, int]) -> None:
    """Each setting's mean with its 95% CI, best at the top; * marks Holm p < 0.05."""
    shown = [row for row in table.rows if row.sample.n]
    for y, row in enumerate(shown):
        low, high = row.sample.ci
        spread = [[0.0], [0.0]] if math.isnan(low) else [[row.sample.mean - low], [high - row.sample.mean]]
        key = id(row.setting)
        ax.errorbar([row.sample.mean], [y], xerr=spread, fmt="o", capsize=4, color=colors[key])
        star = " *" if row.significant else ""
        ax.annotate(
            f"{row.sample.mean:.3f}{star}",
            (row.sample.mean, y),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    ax.set_yticks(range(len(shown)), [f"#{numbers[id(r.setting)]} (n={r.sample.n})" for r in shown])
    ax.invert_yaxis()
    ax.margins(x=0.15, y=0.15)
    ax.set_xlabel(f"{METRICS[table.metric].capitalize()}: mean and 95% CI over seeds")
    ax.set_title(
        f"Settings (* : Holm-corrected Welch p < 0.05 against the {table.reference_name})", fontsize="medium"
    )
    ax.grid(axis="x", alpha=0.3)


def comparison_figure(comparison: Comparison) -> Figure:
    """The run curves and, with repeated settings, the settings' means; the legend below both,
    one wrapped entry per setting, the figure as tall as it needs."""
    repeats = has_repeats(comparison.settings)
    legend_lines = sum(legend_text(n, s).count("\n") + 1 for n, s in enumerate(comparison.settings, 1))
    fig = Figure(figsize=(13 if repeats else 8, 4.5 + 0.2 * (legend_lines + 1)), layout="constrained")
    axes = fig.subplots(1, 2 if repeats else 1, squeeze=False)[0]
    colors = plot_val_curves(axes[0], comparison)
    if repeats:
        by_setting = {id(s): c for s, c in zip(comparison.settings, colors, strict=True)}
        numbers = {id(s): n for n, s in enumerate(comparison.settings, start=1)}
        plot_setting_means(axes[1], comparison.tables["best_val_loss"], by_setting, numbers)
    if axes[0].lines:
        fig.legend(loc="outside lower center", fontsize="small", ncols=1, frameon=False)
    return fig


def plot_comparison(comparison: Comparison, path: Path) -> None:
    comparison_figure(comparison).savefig(path, dpi=120)


def baseline_setting(settings: list[Setting], override: str) -> Setting:
    """The setting whose runs were started with ``override`` (e.g. ``ablation=gpt2``) and the
    fewest other overrides: with ``optimizer.lr=0.001`` and ``optimizer.lr=0.001
    model.drop_rate=0.2`` both run, the first."""
    matching = [s for s in settings if all(override in run.overrides for run in s.runs)]
    extra = {id(s): len(set().union(*(own_overrides(run) for run in s.runs))) for s in matching}
    fewest = [s for s in matching if extra[id(s)] == min(extra.values())]
    if len(fewest) != 1:
        found = "no run was" if not fewest else f"runs of {len(fewest)} settings were"
        raise UserError(
            f"--baseline {override}: {found} started with it: pass one override that names one "
            "setting, as the run folders show it (e.g. ablation=gpt2)"
        )
    return fewest[0]


def sets_result(override: str) -> bool:
    """Whether an override can set a run's result apart: not its seed, not a result-neutral key."""
    key = override_key(override)
    return key != SEED_KEY and not is_result_neutral(key)


def own_overrides(record: RunRecord) -> set[str]:
    """The run's overrides that can set it apart."""
    return {o for o in record.overrides if sets_result(o)}


def label_against(settings: list[Setting], baseline: Setting, override: str) -> None:
    """Label each setting by the keys where it departs from the baseline (``model.norm=rmsnorm``),
    not by every key that differs anywhere: the question asked is "what changed from it?". The
    baseline is labelled by the override that named it."""
    for setting in settings:
        keys = differing_keys([setting.settings, baseline.settings])
        setting.label = override if setting is baseline else label_of(setting.settings, keys)


def read_comparison(root: Path, baseline: str | None = None) -> Comparison:
    """Every run under ``root``, ranked and grouped into settings, with both sets of statistics,
    against the best setting or the ``baseline`` override's."""
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise UserError(f"no runs under {root}: no folder there has a .hydra/config.yaml")
    records = ranked([read_run(run_dir, root) for run_dir in run_dirs])
    tokens, notes = equal_tokens(records)
    settings, by_overrides = group_settings(records)
    # Best setting first, so its legend number is #1 in the plot.
    order = {id(row.setting): i for i, row in enumerate(compare_settings(settings, "best_val_loss").rows)}
    settings.sort(key=lambda s: order[id(s)])
    comparison = Comparison(records, settings, by_overrides, tokens, notes)
    reference = None if baseline is None else baseline_setting(settings, baseline)
    if reference is not None:
        label_against(settings, reference, baseline)
    comparison.tables = {metric: compare_settings(settings, metric, reference) for metric in METRICS}
    return comparison


def compare_runs(root: str | Path, baseline: str | None = None) -> tuple[list[RunRecord], Comparison]:
    """Read, rank and write out every run under ``root``; returns the ranked runs and their comparison."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give a sweep folder (outputs/multirun/...) or outputs/runs")
    comparison = read_comparison(root, baseline)
    write_csv(comparison, root / CSV_NAME)
    plot_comparison(comparison, root / PLOT_NAME)
    return comparison.records, comparison
