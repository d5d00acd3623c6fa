"""Runs that differ only by their seed, taken together: how far apart two settings really are.

One run per setting cannot tell a better setting from a lucky seed. With repeats
(``-m seed=1,2,3 optimizer.lr=1e-3,3e-3``), each setting gets the mean, sample standard
deviation, n and 95% confidence interval of a loss over its runs, and every other setting its
difference to the best one (95% CI, Hedges' g, Welch's p-value, Holm-corrected): see stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gpt_experiments.runs.records import RunRecord
from gpt_experiments.runs.settings import (
    differing_keys,
    identity,
    label_of,
    settings_from_overrides,
)
from gpt_experiments.runs.stats import SIGNIFICANCE_LEVEL, Difference, Sample, holm, versus_best

# Seeds a setting should have for its spread and its tests to mean something.
WANTED_SEEDS = 3
# What each compared loss is called in tables, the CSV and the plot.
METRICS = {
    "best_val_loss": "best val loss",
    "val_loss_at_tokens": "val loss at equal tokens",
}


@dataclass
class Setting:
    """The runs of one setting (equal result settings), and how the comparison names it."""

    settings: dict[str, Any]
    runs: list[RunRecord]
    label: str = ""

    def values(self, metric: str) -> tuple[float, ...]:
        """``metric`` of its finished runs; failed and pruned runs did not train to the end, and
        a diverged one (NaN or infinite) has no value to average (:meth:`diverged` counts them)."""
        values = (getattr(run, metric) for run in self.runs if run.status == "ok")
        return tuple(value for value in values if math.isfinite(value))

    def diverged(self, metric: str) -> int:
        """Its finished runs whose ``metric`` is NaN or infinite: left out of :meth:`values`."""
        return sum(run.status == "ok" and not math.isfinite(getattr(run, metric)) for run in self.runs)

    def more_seeds(self, have: int) -> str:
        """``seed=2,3``: unused seeds that would give it ``WANTED_SEEDS`` results."""
        used = {str(run.seed) for run in self.runs}
        free = (seed for seed in range(1, 10_000) if str(seed) not in used)
        return "seed=" + ",".join(str(next(free)) for _ in range(WANTED_SEEDS - have))


def settings_of(record: RunRecord, by_overrides: bool) -> dict[str, Any]:
    return settings_from_overrides(record.overrides) if by_overrides else record.settings or {}


def group_settings(records: list[RunRecord]) -> tuple[list[Setting], bool]:
    """One ``Setting`` per distinct resolved config, labelled by the keys that differ between
    them; the flag says the runs were grouped by their overrides (some config unreadable)."""
    by_overrides = any(record.settings is None for record in records)
    groups: dict[str, Setting] = {}
    for record in records:
        settings = settings_of(record, by_overrides)
        groups.setdefault(identity(settings), Setting(settings, [])).runs.append(record)
    settings = list(groups.values())
    keys = differing_keys([s.settings for s in settings])
    for setting in settings:
        setting.label = label_of(setting.settings, keys) or "(one setting)"
    return settings, by_overrides


@dataclass
class SettingRow:
    """One setting's statistics for one loss, and its difference to the best setting's."""

    setting: Setting
    sample: Sample
    vs_best: Difference | None = None
    p_holm: float = math.nan
    missing: str = ""  # why it has no comparison with the best

    @property
    def significant(self) -> bool:
        return self.p_holm < SIGNIFICANCE_LEVEL  # False for NaN


@dataclass
class MetricTable:
    """Every setting's statistics for one loss, best mean first (settings without results last),
    each compared with the reference setting: the best one, or a baseline the user named."""

    metric: str
    rows: list[SettingRow] = field(default_factory=list)
    baseline: Setting | None = None

    @property
    def reference(self) -> SettingRow:
        return self.rows[0] if self.baseline is None else self.row_of(self.baseline)

    @property
    def reference_name(self) -> str:
        return "best" if self.baseline is None else "baseline"

    @property
    def tests(self) -> int:
        """How many settings were tested against the best: Holm's m."""
        return sum(row.vs_best is not None and not math.isnan(row.vs_best.p_value) for row in self.rows)

    def row_of(self, setting: Setting) -> SettingRow:
        return next(row for row in self.rows if row.setting is setting)


def missing_text(row: SettingRow, best: SettingRow) -> str:
    """Why ``row`` cannot be tested against ``best``, and what run would make it possible."""
    if row.sample.n == 0:
        return "no result"
    short = [r for r in (best, row) if r.sample.n < 2]
    return "; ".join(f"run {r.setting.more_seeds(r.sample.n)} for {r.setting.label}" for r in short)


def compare_settings(settings: list[Setting], metric: str, baseline: Setting | None = None) -> MetricTable:
    """Each setting's sample of ``metric``; each against the reference (the best, lowest mean,
    or ``baseline``) with Welch's test where both have two results or more; p-values
    Holm-corrected over those tests."""
    rows = [SettingRow(setting, Sample(setting.values(metric))) for setting in settings]
    rows.sort(key=lambda row: (row.sample.n == 0, row.sample.mean))
    table = MetricTable(metric, rows, baseline)
    reference = table.reference
    for row in rows:
        if row is reference:
            continue
        if reference.sample.n >= 2 and row.sample.n >= 2:
            row.vs_best = versus_best(row.sample.values, reference.sample.values)
        else:
            row.missing = missing_text(row, reference)
    tested = [row for row in rows if row.vs_best is not None]
    for row, adjusted in zip(tested, holm([row.vs_best.p_value for row in tested]), strict=True):
        row.p_holm = adjusted
    return table


def has_repeats(settings: list[Setting]) -> bool:
    """Whether any setting has two runs or more (otherwise the per-run table says it all)."""
    return any(len(setting.runs) >= 2 for setting in settings)


def _num(value: float, digits: int = 4) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return "-" if math.isnan(low) else f"[{low:.4f}, {high:.4f}]"


def p_text(row: SettingRow, table: MetricTable) -> str:
    """The Holm p column: the reference, a p-value (starred if significant), or why there is none."""
    if row is table.reference:
        return table.reference_name
    if row.vs_best is None:
        return "no result" if row.sample.n == 0 else "n<2"
    if math.isnan(row.vs_best.p_value):
        return "no spread"
    return f"{row.p_holm:.3g}{' *' if row.significant else ''}"


def format_metric_table(table: MetricTable) -> str:
    """Settings ranked by their mean ``table.metric``, with spread, CI, difference to the best,
    g and Holm p."""
    versus = f"diff vs {table.reference_name}"
    lines = [
        f"{'rank':>4}  {'mean':>8}  {'std':>7}  {'n':>2}  {'95% CI of mean':>18}"
        f"  {versus:>16}  {'95% CI of diff':>18}  {'g':>6}  {'p (Holm)':>10}  setting"
    ]
    for rank, row in enumerate(table.rows, start=1):
        diff = row.vs_best
        lines.append(
            f"{rank:>4}  {_num(row.sample.mean):>8}  {_num(row.sample.std):>7}  {row.sample.n:>2}"
            f"  {_interval(*row.sample.ci):>18}  {_num(diff.diff) if diff else '-':>16}"
            f"  {_interval(*diff.ci) if diff else '-':>18}  {_num(diff.hedges_g, 2) if diff else '-':>6}"
            f"  {p_text(row, table):>10}  {row.setting.label}"
        )
    lines.append(footer(table))
    return "\n".join(lines)


def footer(table: MetricTable) -> str:
    """How to read the table, and what is missing for the tests that could not be made."""
    lines = ["std: sample standard deviation; CI: 95% confidence interval of the mean (t distribution)."]
    if len(table.rows) > 1:
        tested = f"{table.tests} setting{'' if table.tests == 1 else 's'}"
        name = table.reference_name
        lines += [
            f"diff vs {name}: mean minus the {name} mean, with its 95% CI (Welch); g: Hedges' g (the "
            "difference in pooled standard deviations, corrected for small samples).",
            f"p (Holm): Welch's t-test against the {name}, Holm-corrected for the {tested} tested; "
            f"* marks p < {SIGNIFICANCE_LEVEL}. "
            + (
                "The best is picked after the fact: a lead it shows without * may be luck."
                if table.baseline is None
                else f"The baseline: {table.baseline.label}."
            ),
        ]
    parts = (part for row in table.rows for part in row.missing.split("; "))
    lines += [f"missing: {part}" for part in dict.fromkeys(parts) if part and part != "no result"]
    # A setting that diverged on some seeds must not pass for one that trained well on fewer.
    for row in table.rows:
        if diverged := row.setting.diverged(table.metric):
            lines.append(
                f"diverged: {diverged} of the {len(row.setting.runs)} runs of {row.setting.label} "
                f"ended without a finite {METRICS[table.metric]}; its mean, n and tests leave them out"
            )
    return "\n".join(lines)
