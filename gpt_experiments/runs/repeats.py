"""Runs that differ only by their seed, taken together: how far apart two settings really are.

One run per setting cannot tell a better setting from a lucky seed. With repeats
(``-m seed=1,2,3 optimizer.lr=1e-3,3e-3``), each setting gets the mean, standard deviation
and count of its runs' best validation losses, and Welch's t-test says how likely a gap
at least that large between it and the best setting would be if both were equally good.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean, stdev

from scipy.stats import t as student_t

from gpt_experiments.config import override_key
from gpt_experiments.runs.records import RunRecord

# The override that only repeats a run; every other override defines the setting.
SEED_KEY = "seed"
# Differences with a smaller p-value are marked as significant.
SIGNIFICANCE_LEVEL = 0.05


def setting_of(record: RunRecord) -> tuple[str, ...]:
    """A run's overrides without its seed: equal for runs that repeat one setting."""
    return tuple(o for o in record.overrides if override_key(o) != SEED_KEY)


class SampleStats:
    """Count, mean and sample standard deviation of ``values`` (NaN where they cannot be had)."""

    values: Sequence[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1 in the denominator); NaN for fewer than two values."""
        return stdev(self.values) if self.n >= 2 else math.nan


@dataclass
class SettingStats(SampleStats):
    """The runs of one setting and the spread of their best validation losses."""

    setting: tuple[str, ...]
    runs: list[RunRecord]
    losses: list[float] = field(init=False)  # the finite best val losses of its runs
    p_value: float | None = None  # Welch's t-test against the best setting; None when it cannot be had

    def __post_init__(self) -> None:
        # Failed and pruned runs did not train to the end: their losses would not compare.
        values = (run.best_val_loss for run in self.runs if run.status == "ok")
        self.losses = [value for value in values if math.isfinite(value)]

    @property
    def values(self) -> Sequence[float]:
        return self.losses

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE_LEVEL


def welch_t_test(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) that ``a`` and ``b`` share a mean.

    t = (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b), with the Welch-Satterthwaite
    degrees of freedom. NaN when both samples have no spread (t is undefined).
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values in each sample")
    se2_a, se2_b = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
    se2 = se2_a + se2_b
    if se2 == 0:
        return math.nan
    t = (fmean(a) - fmean(b)) / math.sqrt(se2)
    df = se2**2 / (se2_a**2 / (len(a) - 1) + se2_b**2 / (len(b) - 1))
    return float(2 * student_t.sf(abs(t), df))


def group_by_setting(records: list[RunRecord]) -> list[SettingStats]:
    """One entry per setting, best mean first (settings without results last), with p-values.

    Each setting is tested against the best one; the test needs two runs or more on both sides.
    """
    by_setting: dict[tuple[str, ...], list[RunRecord]] = {}
    for record in records:
        by_setting.setdefault(setting_of(record), []).append(record)
    groups = [SettingStats(setting, runs) for setting, runs in by_setting.items()]
    groups.sort(key=lambda g: (g.n == 0, g.mean))
    best = groups[0]
    for group in groups[1:]:
        if best.n >= 2 and group.n >= 2:
            group.p_value = welch_t_test(group.losses, best.losses)
    return groups


def has_repeats(groups: list[SettingStats]) -> bool:
    """Whether any setting was run more than once (otherwise the per-run table says it all)."""
    return any(group.n >= 2 for group in groups)


def setting_label(group: SettingStats, common: list[str]) -> str:
    own = [o for o in group.setting if o not in common]
    return " ".join(own) or "(shared settings only)"


def p_value_text(group: SettingStats, best: SettingStats) -> str:
    """The p-value column: the best setting, a p-value (starred if significant), or why there is none."""
    if group is best:
        return "best"
    if group.n == 0:
        return "no result"
    if group.p_value is None:
        return "n<2"
    if math.isnan(group.p_value):
        return "no spread"
    return f"{group.p_value:.3g}{' *' if group.significant else ''}"


def format_repeats_table(groups: list[SettingStats], common: list[str]) -> str:
    """Settings ranked by mean best val loss, with spread, count and p-value against the best."""
    lines = [
        "Settings run more than once (runs that differ only by seed), by mean best val loss:",
        f"{'rank':>4}  {'mean best val loss':>18}  {'std':>7}  {'n':>2}  {'p vs best':>11}  setting",
    ]
    for rank, group in enumerate(groups, start=1):
        std = "-" if group.n < 2 else f"{group.std:.4f}"
        lines.append(
            f"{rank:>4}  {group.mean:>18.4f}  {std:>7}  {group.n:>2}"
            f"  {p_value_text(group, groups[0]):>11}  {setting_label(group, common)}"
        )
    lines.append(
        f"std: sample standard deviation. p vs best: Welch's t-test against the best setting; "
        f"* marks p < {SIGNIFICANCE_LEVEL} (a difference unlikely to come from the seed alone)."
    )
    return "\n".join(lines)
