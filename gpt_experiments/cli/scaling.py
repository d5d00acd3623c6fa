"""Fit scaling laws to a ladder of runs: each budget's IsoFLOP minimum, the power laws N*(C),
D*(C), L*(C) with bootstrap intervals, the law L(N, D) = E + A/N^alpha + B/D^beta, and the
compute-optimal run at a target budget (docs/scaling_laws.md).

``python scripts/scaling.py <sweep folder>`` or ``gpt-scaling``; writes scaling.json,
scaling.csv and scaling.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt_experiments.cli.arguments import (
    CommandParser,
    first_paragraph,
    non_negative_int,
    path_argument,
    positive_float,
)
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.runs.scaling.fit import fit_scaling
from gpt_experiments.runs.scaling.points import (
    ScalingError,
    ScalingPoint,
    points_from_csv,
    points_from_runs,
)
from gpt_experiments.runs.scaling.report import format_fit, write_report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "folders", nargs="*", type=path_argument, help="sweep folders of a ladder (max_flops x model sizes)"
    )
    parser.add_argument(
        "--csv", type=path_argument, help="fit points from a CSV with columns params,tokens,loss[,flops]"
    )
    parser.add_argument(
        "--target-flops", type=positive_float, help="predict the compute-optimal run at this budget"
    )
    parser.add_argument(
        "--check",
        action="append",
        type=path_argument,
        default=[],
        metavar="FOLDER",
        help="a run (or sweep) left out of the fit, e.g. one at a larger budget with the predicted "
        "size: its measured loss against the prediction (repeat for more)",
    )
    parser.add_argument(
        "--out", type=path_argument, help="where to write (default: the first folder, or the CSV's folder)"
    )
    parser.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=1000,
        help="bootstrap draws for the intervals (default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's random seed")
    args = parser.parse_args(argv)
    if bool(args.folders) == (args.csv is not None):
        parser.error("pass sweep folders or --csv FILE (one of the two)")
    return args


def existing_folders(folders: list[Path]) -> list[Path]:
    for folder in folders:
        if not folder.is_dir():
            raise ScalingError(
                f"{folder} is not a folder: pass a sweep folder (outputs/multirun/<date>/<time>)"
            )
    return folders


def check_each_run_once(points: list[ScalingPoint]) -> None:
    """A run counted twice would weigh double in the fit; a --check run inside a fitted folder
    would be checked against a law fitted to itself."""
    seen: dict[Path, str] = {}
    for point in points:
        run = Path(point.source).resolve()
        if run in seen:
            raise ScalingError(
                f"{point.source} is named twice (a folder given twice, or a --check run inside a "
                "fitted folder): pass each sweep once, and --check runs left out of the fit"
            )
        seen[run] = point.source


def output_folder(out: Path) -> Path:
    """``out``, refused before the fit if it is a file (the report is three files in a folder)."""
    if out.exists() and not out.is_dir():
        raise ScalingError(f"{out} is a file: pass --out a folder to write scaling.json, .csv and .png into")
    return out


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.csv is not None:
        points, default_out = points_from_csv(args.csv), args.csv.parent
    else:
        points, default_out = points_from_runs(existing_folders(args.folders)), args.folders[0]
    checks = points_from_runs(existing_folders(args.check)) if args.check else []
    check_each_run_once(checks if args.csv is not None else points + checks)
    out = output_folder(args.out or default_out)
    fit = fit_scaling(
        points, args.target_flops, args.bootstrap, args.seed, checks
    )  # refusals before any write
    print(f"{len(points)} points in {len(fit.minima)} budgets")
    print(format_fit(fit))
    paths = write_report(fit, out)
    print("Wrote " + ", ".join(str(path) for path in paths))
