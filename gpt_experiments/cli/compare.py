"""Rank the runs of a sweep by validation loss (``python scripts/compare_runs.py <folder>``
or ``gpt-compare``).

Prints a table of runs and, for settings repeated over seeds, each setting's mean, spread and
95% CI with its difference to the best (Welch, Holm-corrected), on the best val loss and on the
val loss at equal tokens; writes comparison.csv and comparison.png into that folder. Works on
any folder of runs, e.g. ``outputs/runs``. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from gpt_experiments.cli.arguments import CommandParser, path_argument
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.errors import warn
from gpt_experiments.runs.compare import (
    CSV_NAME,
    PLOT_NAME,
    Comparison,
    common_overrides,
    compare_runs,
    format_table,
    provenance_warning,
)
from gpt_experiments.runs.repeats import format_metric_table, has_repeats


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "folder", type=path_argument, help="a sweep folder, a run folder, or a folder of runs"
    )
    parser.add_argument(
        "--baseline",
        metavar="OVERRIDE",
        help="compare every setting with the one whose runs were started with OVERRIDE "
        "(e.g. ablation=gpt2) instead of the best",
    )
    args = parser.parse_args(argv)
    print_comparison(args.folder, args.baseline)


def print_settings(comparison: Comparison) -> None:
    """The settings tables: on the best val loss, then on the val loss at equal tokens."""
    print(
        f"\nSettings: {len(comparison.settings)} (runs are one setting when their "
        + (
            "overrides agree but for the seed: some run has no readable .hydra/config.yaml)"
            if comparison.by_overrides
            else "resolved configs agree but for the seed and result-neutral keys)"
        )
    )
    print("By best val loss (each run's lowest):")
    print(format_metric_table(comparison.tables["best_val_loss"]))
    if math.isnan(comparison.tokens):
        print("\nAt equal tokens: no finished run logged its val loss with tokens seen")
        return
    print(
        f"\nAt equal tokens: val loss at {comparison.tokens:,.0f} tokens, the most every finished run reached"
    )
    print(format_metric_table(comparison.tables["val_loss_at_tokens"]))


def print_comparison(folder: Path, baseline: str | None = None) -> None:
    """Rank the runs under ``folder``, print the tables and write the CSV and plot there."""
    records, comparison = compare_runs(folder, baseline)
    failed = sum(record.failed for record in records)
    pruned = sum(record.pruned is not None for record in records)
    counts = f"{failed} failed" + (f", {pruned} pruned" if pruned else "")
    print(f"Runs under {folder}: {len(records)} ({counts})")
    common = common_overrides(records)
    if common:
        print("Shared by all runs: " + " ".join(common))
    print(format_table(comparison))
    code_warning = provenance_warning(records)
    if code_warning:
        warn(code_warning)
    if any(record.dirty for record in records):
        print("*: the run's code had uncommitted changes (saved in its code.diff)")
    if any(record.wall_time_source == "events" for record in records):
        print("~: wall time of an older run without summary.json (first to last TensorBoard event)")
    if has_repeats(comparison.settings):
        print_settings(comparison)
    for note in comparison.notes:
        print(f"note: {note}")
    print(f"Wrote {CSV_NAME} and {PLOT_NAME} in {folder}")
