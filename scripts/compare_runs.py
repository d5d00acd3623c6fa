"""Rank the runs of a sweep by validation loss: `python scripts/compare_runs.py <sweep folder>`.

Prints a table, and writes comparison.csv and comparison.png into that folder.
Works on any folder of runs, e.g. `outputs/runs`. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import sys

from gpt_experiments.compare import CSV_NAME, PLOT_NAME, compare_runs, format_table
from gpt_experiments.errors import UserError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a sweep folder, a run folder, or a folder of runs")
    args = parser.parse_args()
    try:
        records, common = compare_runs(args.folder)
    except UserError as err:
        sys.exit(f"error: {err}")
    failed = sum(record.failed for record in records)
    print(f"Runs under {args.folder}: {len(records)} ({failed} failed)")
    if common:
        print("Shared by all runs: " + " ".join(common))
    print(format_table(records, common))
    print(f"Wrote {CSV_NAME} and {PLOT_NAME} in {args.folder}")


if __name__ == "__main__":
    main()
