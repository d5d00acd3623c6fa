"""Run the seed reproduction over several seeds, with the project and with the chapter's algorithm,
and report the distributions (``python scripts/repro_seeds.py``; see docs/reproduction.md).

For every overlay (``lr4e-4``: ``experiment=verdict_repro``; ``lr5e-4``:
``experiment=verdict_repro_lr5e-4``) and seed, trains the project (``scripts/train.py`` in a
subprocess) and the chapter's algorithm (``benchmarks/chapter_repro.py``) into
``OUT/<overlay>/<implementation>/seed_<n>/``. Runs already finished there are kept, so an
interrupted command picks up where it stopped. Then writes ``OUT/report.md`` (the table of
``benchmarks/seed_distribution.py``, with the commit and machine) and ``OUT/repro_seeds.png``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks.chapter_repro import CHAPTER_MODEL, ChapterRunSettings, run_into
from benchmarks.seed_distribution import (
    IMPLEMENTATIONS,
    PUBLISHED_STEP,
    compare,
    markdown_table,
    plot_distributions,
)
from gpt_experiments.cli.arguments import CommandParser, first_paragraph, positive_int
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.config import asset_path
from gpt_experiments.errors import ConfigError, UserError
from gpt_experiments.runs.records import read_history

ROOT = Path(__file__).resolve().parents[1]
REPORT_NAME = "report.md"
PLOT_NAME = "repro_seeds.png"


@dataclass(frozen=True)
class Overlay:
    experiment: str  # the project's conf/experiment option
    lr: float  # the same run's learning rate, for the chapter's algorithm


OVERLAYS = {
    "lr4e-4": Overlay("verdict_repro", 4e-4),
    "lr5e-4": Overlay("verdict_repro_lr5e-4", 5e-4),
}


def csv_list(kind: type, choices: tuple[str, ...] | None = None):
    """An argparse type for comma-separated values, each checked against ``choices``."""

    def parse(text: str) -> list:
        values = [kind(item) for item in text.split(",") if item.strip()]
        unknown = [v for v in values if choices is not None and v not in choices]
        if unknown or not values:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a comma-separated list of {choices or kind.__name__}"
            )
        return values

    return parse


def finished(run_dir: Path, last_step: int) -> bool:
    """Whether the run reached its last evaluation (an earlier attempt may have been cut short)."""
    return any(row["step"] == last_step for row in read_history(run_dir))


def train_project(overlay: Overlay, seed: int, run_dir: Path) -> None:
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        f"experiment={overlay.experiment}",
        f"seed={seed}",
        f"hydra.run.dir={run_dir.resolve()}",
        "trainer.enable_progress_bar=false",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        raise UserError(
            f"the project run in {run_dir} failed (exit {result.returncode}): its output is above"
        )


def train_chapter(overlay: Overlay, seed: int, run_dir: Path) -> None:
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    run_into(ChapterRunSettings(seed=seed, lr=overlay.lr), CHAPTER_MODEL, text, run_dir)


TRAINERS = {"project": train_project, "chapter": train_chapter}


def run_all(
    out: Path, overlays: list[str], implementations: list[str], seeds: list[int], last_step: int
) -> None:
    """Train every missing run; one that stopped before ``last_step`` is started again from scratch."""
    for name in overlays:
        for implementation in implementations:
            for seed in seeds:
                run_dir = out / name / implementation / f"seed_{seed}"
                if finished(run_dir, last_step):
                    print(f"kept   {run_dir} (finished earlier)")
                    continue
                if run_dir.exists():
                    shutil.rmtree(run_dir)  # an unfinished attempt of this command: its rows would mix in
                print(f"train  {run_dir}", flush=True)
                start = time.perf_counter()
                TRAINERS[implementation](OVERLAYS[name], seed, run_dir)
                print(f"done   {run_dir} in {time.perf_counter() - start:.0f} s", flush=True)


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (result.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty.strip() else "")


def load_text(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.1f}" for x in load)


def machine(load_at_start: tuple[float, float, float]) -> str:
    """Processor, cores, torch and the load average (1/5/15 min): other jobs slow runs, not their losses."""
    cpu = platform.processor() or platform.machine()
    gpu = "CUDA" if torch.cuda.is_available() else "no GPU"
    load = f"load average at start {load_text(load_at_start)}, at report {load_text(os.getloadavg())}"
    return f"{cpu}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}; {load}"


def write_report(out: Path, overlays: list[str], steps: list[int], command: str, machine_text: str) -> str:
    comparisons = compare(out, overlays, steps)
    plot_distributions(comparisons, out / PLOT_NAME)
    report = "\n".join(
        [
            "# Seed reproduction: distributions over seeds",
            "",
            f"Command: `{command}`  ",
            f"Commit: {git_commit()}  ",
            f"Machine: {machine_text}  ",
            f"Written: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            "",
            markdown_table(comparisons),
            "",
            "mean ± std: sample standard deviation over seeds. Welch p: Welch's t-test, project against "
            "chapter (* : p < 0.05). z / pct: the published run's z-score and percentile among the seeds.",
            f'The published runs were printed at the chapter\'s "Step {PUBLISHED_STEP}", counted from 0 '
            f"after the first optimizer step: set against our step {PUBLISHED_STEP}, one step earlier.",
            "",
            f"![distributions]({PLOT_NAME})",
            "",
        ]
    )
    (out / REPORT_NAME).write_text(report)
    return report


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/repro_seeds"), help="folder for runs and report"
    )
    parser.add_argument("--seeds", type=csv_list(int), default=[123, 1, 2, 3, 4], help="default: 123,1,2,3,4")
    parser.add_argument(
        "--steps", type=csv_list(positive_int), default=[85, 90], help="steps to report (default: 85,90)"
    )
    parser.add_argument(
        "--implementations",
        type=csv_list(str, IMPLEMENTATIONS),
        default=list(IMPLEMENTATIONS),
        help="project,chapter",
    )
    parser.add_argument(
        "--overlays", type=csv_list(str, tuple(OVERLAYS)), default=list(OVERLAYS), help="lr4e-4,lr5e-4"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="train nothing: report the runs already in --out"
    )
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(
            f"--seeds {args.seeds} repeats a seed: a seed's runs are deterministic, give distinct seeds"
        )
    if not args.report_only:
        run_all(args.out, args.overlays, args.implementations, args.seeds, max(args.steps))
    command = " ".join(["python scripts/repro_seeds.py", *(argv if argv is not None else sys.argv[1:])])
    print(write_report(args.out, args.overlays, args.steps, command, machine(load_at_start)))
    print(f"Wrote {args.out / REPORT_NAME} and {args.out / PLOT_NAME}")


if __name__ == "__main__":
    main()
