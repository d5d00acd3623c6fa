"""The seed reproduction as a distribution over seeds: one run cannot tell a slower
implementation from other dropout masks and batch orders, several seeds can.

Reads run folders laid out as ``ROOT/<overlay>/<implementation>/seed_<n>/history.csv`` (the
project's runs and ``benchmarks/chapter_repro.py``'s write the same format), and for every
overlay, evaluated step and loss gives each implementation's mean, sample standard deviation
and count over seeds, Welch's p-value of project against chapter (compare_runs' test), and
where the published single run falls among the seeds (z-score and percentile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure  # without pyplot: no display, no global figure state

from gpt_experiments.errors import DataError
from gpt_experiments.runs.records import read_history
from gpt_experiments.runs.stats import SIGNIFICANCE_LEVEL, SampleStats, welch_p_value

# The two history.csv columns compared: the train loss scored in eval mode, and the val loss.
LOSSES = {"train_eval": "train_loss", "val": "val_loss"}
IMPLEMENTATIONS = ("project", "chapter")
# The published runs, one each, as printed at the chapter's "Step 85": that counter starts at 0
# after the first optimizer step, so they were scored after 86 steps; our nearest row is step 85.
PUBLISHED_STEP = 85
PUBLISHED = {
    "lr4e-4": {"train_eval": 0.39, "val": 6.45},  # the book's first edition
    "lr5e-4": {"train_eval": 0.762, "val": 6.372},  # the seed page
}


@dataclass(frozen=True)
class Spread(SampleStats):
    """One loss at one step over the seeds of one implementation."""

    values: tuple[float, ...]

    def z_score(self, value: float) -> float:
        """How many standard deviations ``value`` lies above the mean (NaN without spread)."""
        return (value - self.mean) / self.std if self.std > 0 else math.nan

    def percentile(self, value: float) -> float:
        """Percent of seeds with a lower loss than ``value``, ties counted half (NaN without seeds)."""
        if not self.values:
            return math.nan
        below = sum(v < value for v in self.values)
        ties = sum(v == value for v in self.values)
        return 100.0 * (below + 0.5 * ties) / self.n


@dataclass(frozen=True)
class StepComparison:
    """Both implementations' spreads of one loss at one step of one overlay."""

    overlay: str
    step: int
    loss: str  # a key of LOSSES
    spreads: dict[str, Spread]  # by implementation
    published: float | None  # the published figure, at PUBLISHED_STEP only

    @property
    def p_value(self) -> float | None:
        """Welch's t-test, project against chapter; None unless both have two seeds or more."""
        a, b = (self.spreads.get(name) for name in IMPLEMENTATIONS)
        if a is None or b is None or a.n < 2 or b.n < 2:
            return None
        return welch_p_value(list(a.values), list(b.values))


def seed_dirs(root: Path, overlay: str, implementation: str) -> list[Path]:
    """The run folders of one overlay and implementation, one per seed, in name order."""
    return sorted(p for p in (root / overlay / implementation).glob("seed_*") if p.is_dir())


def loss_at(run_dir: Path, step: int, column: str) -> float:
    """The run's ``column`` at ``step``; a DataError names the run when it has no such row."""
    for row in read_history(run_dir):
        if row["step"] == step:
            return row[column]
    raise DataError(f"{run_dir} has no evaluation at step {step} in history.csv: finish or rerun that run")


def compare(root: Path, overlays: list[str], steps: list[int]) -> list[StepComparison]:
    """Every overlay x step x loss, with each implementation that has runs under ``root``."""
    comparisons = []
    for overlay in overlays:
        runs = {name: seed_dirs(root, overlay, name) for name in IMPLEMENTATIONS}
        runs = {name: dirs for name, dirs in runs.items() if dirs}
        if not runs:
            raise DataError(f"no runs under {root / overlay}: run the seeds first (see docs/reproduction.md)")
        for step in steps:
            for loss, column in LOSSES.items():
                spreads = {
                    name: Spread(tuple(loss_at(d, step, column) for d in dirs)) for name, dirs in runs.items()
                }
                published = PUBLISHED.get(overlay, {}).get(loss) if step == PUBLISHED_STEP else None
                comparisons.append(StepComparison(overlay, step, loss, spreads, published))
    return comparisons


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _spread_text(spread: Spread | None) -> str:
    if spread is None or not spread.n:
        return "-"
    return f"{spread.mean:.3f} ± {_number(spread.std, 3)} (n={spread.n})"


def markdown_table(comparisons: list[StepComparison]) -> str:
    """One row per overlay, step and loss: both spreads, Welch's p, and the published point's place."""
    header = ["overlay", "step", "loss", *(f"{name} mean ± std (n)" for name in IMPLEMENTATIONS), "Welch p"]
    header += ["published", *(f"z / pct in {name}" for name in IMPLEMENTATIONS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in comparisons:
        p = c.p_value
        p_text = "-" if p is None else "no spread" if math.isnan(p) else f"{p:.3g}"
        p_text += " *" if p is not None and p < SIGNIFICANCE_LEVEL else ""
        cells = [c.overlay, str(c.step), c.loss, *(_spread_text(c.spreads.get(n)) for n in IMPLEMENTATIONS)]
        cells += [p_text, _number(c.published, 3)]
        for name in IMPLEMENTATIONS:
            spread = c.spreads.get(name)
            if c.published is None or spread is None:
                cells.append("-")
            else:
                z, pct = spread.z_score(c.published), spread.percentile(c.published)
                cells.append(f"{_number(z, 2)} / {_number(pct, 0)}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_distributions(comparisons: list[StepComparison], path: Path) -> None:
    """A panel per loss (rows) and overlay (columns): every seed as a dot, mean ± std as a bar,
    the published runs as stars."""
    overlays = list(dict.fromkeys(c.overlay for c in comparisons))
    steps = sorted({c.step for c in comparisons})
    fig = Figure(figsize=(5 * len(overlays), 7), layout="constrained")
    axes = fig.subplots(len(LOSSES), len(overlays), squeeze=False)
    colors = {"project": "tab:blue", "chapter": "tab:orange"}
    for col, overlay in enumerate(overlays):
        for row, loss in enumerate(LOSSES):
            ax = axes[row][col]
            for c in (c for c in comparisons if c.overlay == overlay and c.loss == loss):
                x = steps.index(c.step)
                for offset, name in zip((-0.15, 0.15), IMPLEMENTATIONS, strict=True):
                    spread = c.spreads.get(name)
                    if spread is None:
                        continue
                    first = x == 0
                    ax.plot([x + offset - 0.05] * spread.n, spread.values, ".", color=colors[name], alpha=0.6)
                    ax.errorbar(
                        x + offset,
                        spread.mean,
                        yerr=0.0 if spread.n < 2 else spread.std,
                        fmt="o",
                        capsize=5,
                        color=colors[name],
                        label=f"{name} (mean ± std, dots: seeds)" if first else None,
                    )
                if c.published is not None:
                    ax.plot(x, c.published, "*", color="black", markersize=13, label="published (one run)")
            ax.set_xticks(range(len(steps)), [f"step {s}" for s in steps])
            ax.set_xlim(-0.6, len(steps) - 0.4)
            ax.set_title(f"{overlay}: {loss} loss", fontsize="medium")
            ax.grid(axis="y", alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)
