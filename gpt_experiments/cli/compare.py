"""Rank the runs of a sweep by validation loss (``python scripts/compare_runs.py <folder>``
or ``gpt-compare``).

Prints a table (and, for settings repeated over seeds, their mean, spread and p-value
against the best), and writes comparison.csv and comparison.png into that folder.
Works on any folder of runs, e.g. ``outputs/runs``. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse

from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.runs.compare import CSV_NAME, PLOT_NAME, compare_runs, format_table
from gpt_experiments.runs.repeats import format_repeats_table, group_by_setting, has_repeats


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a sweep folder, a run folder, or a folder of runs")
    args = parser.parse_args(argv)
    print_comparison(args.folder)


def print_comparison(folder: str) -> None:
    """Rank the runs under ``folder``, print the table and write the CSV and plot there."""
    records, common = compare_runs(folder)
    failed = sum(record.failed for record in records)
    pruned = sum(record.pruned is not None for record in records)
    counts = f"{failed} failed" + (f", {pruned} pruned" if pruned else "")
    print(f"Runs under {folder}: {len(records)} ({counts})")
    if common:
        print("Shared by all runs: " + " ".join(common))
    print(format_table(records, common))
    groups = group_by_setting(records)
    if has_repeats(groups):
        print()
        print(format_repeats_table(groups, common))
    print(f"Wrote {CSV_NAME} and {PLOT_NAME} in {folder}")
