"""The points a scaling fit reads: (N, D, C, loss) per finished run, grouped by budget.

N is the non-embedding parameter count and C the training FLOPs, both as
``gpt_experiments/model_flops.py`` counts them; D is tokens trained on; the loss is the
validation loss at the run's last step. Points come from run folders (their ``summary.json``)
or from a CSV file with columns ``params,tokens,loss`` and optionally ``flops`` (6ND if absent).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from gpt_experiments.errors import DataError, UserError
from gpt_experiments.run_folder.history import SUMMARY_JSON, read_summary_json
from gpt_experiments.run_folder.saved import saved_config
from gpt_experiments.run_folder.status import failure_message
from gpt_experiments.runs.records import find_run_dirs

CSV_COLUMNS = ("params", "tokens", "loss")
STEP_COUNTERS = ("max_steps", "steps", "final_val_step")  # in summary.json


class ScalingError(UserError):
    """Points that cannot be fitted; the message says what to add or remove."""


@dataclass(frozen=True)
class ScalingPoint:
    params: float  # N
    tokens: float  # D
    flops: float  # C, the compute the run used
    loss: float
    budget: float  # the budget it was trained on (runs of one budget share it)
    source: str  # the run folder or CSV row, for messages


def budget_key(flops: float) -> float:
    """A budget to 3 significant digits: points of one IsoFLOP curve share it."""
    return float(f"{flops:.3g}")


def by_budget(points: list[ScalingPoint]) -> dict[float, list[ScalingPoint]]:
    """Points grouped by budget, budgets ascending, each group by size."""
    groups: dict[float, list[ScalingPoint]] = defaultdict(list)
    for point in points:
        groups[point.budget].append(point)
    return {budget: sorted(groups[budget], key=lambda p: p.params) for budget in sorted(groups)}


def unfinished_reason(run_dir: Path, summary: dict | None) -> str | None:
    """Why a run folder holds no final point, or None when it finished its planned steps."""
    failed = failure_message(run_dir)
    if failed is not None:
        return f"failed ({failed})"
    if summary is None:
        return f"no {SUMMARY_JSON} (still running, or crashed)"
    counters = {key: summary[key] for key in STEP_COUNTERS if key in summary}
    if wrong := [f"{key}={value!r}" for key, value in counters.items() if type(value) is not int]:
        return f"its {SUMMARY_JSON} has {', '.join(wrong)}, not whole numbers (damaged or edited)"
    if summary.get("max_steps", -1) > 0 and summary.get("steps", 0) < summary["max_steps"]:
        return f"stopped at step {summary.get('steps')} of {summary['max_steps']}"
    if summary.get("final_val_step") != summary.get("steps") or summary.get("final_val_loss") is None:
        return "no validation at its last step (train it with max_flops= or max_tokens=)"
    if not summary.get("non_embedding_params") or not summary.get("train_flops"):
        return f"its {SUMMARY_JSON} predates FLOPs accounting (no non_embedding_params or train_flops)"
    return None


def configured_budget(run_dir: Path) -> float | None:
    """The run's ``max_flops`` from its saved config (None if unset or unreadable)."""
    try:
        value = saved_config(run_dir).get("max_flops")
    except DataError:  # an unreadable config: the run's own FLOPs stand in
        return None
    return float(value) if isinstance(value, int | float) else None


def points_from_runs(folders: list[Path]) -> list[ScalingPoint]:
    """One point per run folder under ``folders``; refuses if any run did not finish."""
    points, unfinished = [], []
    for folder in folders:
        run_dirs = find_run_dirs(folder)
        if not run_dirs:
            raise ScalingError(f"{folder} holds no run folders (.hydra/config.yaml): pass a sweep folder")
        for run_dir in run_dirs:
            summary = read_summary_json(run_dir)
            reason = unfinished_reason(run_dir, summary)
            if reason is not None:
                unfinished.append(f"{run_dir}: {reason}")
                continue
            points.append(point_of_run(run_dir, summary))
    if unfinished:
        more = f" (and {len(unfinished) - 1} more)" if len(unfinished) > 1 else ""
        raise ScalingError(
            f"{len(unfinished)} run(s) did not finish, e.g. {unfinished[0]}{more}: "
            "wait for them, resume them (resume=<run folder>), or move their folders out"
        )
    return points


def positive_number(value: object, name: str, where: str, fix: str) -> float:
    """``value`` as a float, refused in one line unless a finite number above 0 (a NaN loss
    would otherwise surface as a misleading complaint about the fit)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScalingError(f"{where}: {name}={value!r} is not a number: {fix}") from None
    if not math.isfinite(number) or number <= 0:
        raise ScalingError(f"{where}: {name}={value} must be a positive number: {fix}")
    return number


def _positive(row: dict[str, str], column: str, where: str) -> float:
    return positive_number(row[column], column, where, "fix or remove the row")


def point_of_run(run_dir: Path, summary: dict) -> ScalingPoint:
    """The point of a finished run, from its summary.json."""
    where, fix = f"{run_dir / SUMMARY_JSON}", "the run diverged or the file was edited: move its folder out"

    def number(key: str) -> float:
        value = summary.get(key)
        # JSON numbers only: not true (an int to Python), nor "1e6" as text, nor a missing key.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScalingError(f"{where}: {key}={json.dumps(value)} is not a number: {fix}")
        return positive_number(value, key, where, fix)

    flops = number("train_flops")
    return ScalingPoint(
        params=number("non_embedding_params"),
        tokens=number("tokens_seen"),
        flops=flops,
        loss=number("final_val_loss"),
        budget=budget_key(configured_budget(run_dir) or flops),
        source=str(run_dir),
    )


def points_from_csv(path: Path) -> list[ScalingPoint]:
    """Points from a CSV with columns ``params,tokens,loss`` (and ``flops``, else C = 6ND)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ScalingError(
                f"{path} lacks the column(s) {', '.join(missing)}: its header must name "
                "params,tokens,loss (and optionally flops)"
            )
        rows = list(reader)
    points = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{path} line {number}"
        params, tokens, loss = (_positive(row, column, where) for column in CSV_COLUMNS)
        has_flops = row.get("flops") not in (None, "")
        flops = _positive(row, "flops", where) if has_flops else 6 * params * tokens
        points.append(ScalingPoint(params, tokens, flops, loss, budget_key(flops), where))
    if not points:
        raise ScalingError(f"{path} has no rows: add one row per run (params,tokens,loss)")
    return points
