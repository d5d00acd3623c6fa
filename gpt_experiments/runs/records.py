"""What one finished (or failed) run left in its folder, read back for comparisons.

A run folder is any folder with Hydra's ``.hydra/config.yaml``: a single run under
``outputs/runs/`` or a job of a sweep under ``outputs/multirun/``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gpt_experiments.config import override_key
from gpt_experiments.errors import DataError, refusal_reason, warn
from gpt_experiments.result_keys import SEED_KEY, TRIAL_NUMBER_KEY
from gpt_experiments.run_folder.history import recorded_wall_time
from gpt_experiments.run_folder.provenance import legs, read_provenance
from gpt_experiments.run_folder.saved import (
    RUN_CONFIG,
    UNREADABLE,
    run_folders_under,
    started_with,
    unreadable_reason,
)
from gpt_experiments.run_folder.status import failure_message, pruned_message, unended_message
from gpt_experiments.runs.settings import read_settings

# The run's training tokens / training time, logged by SpeedMonitor (its last value is final);
# named hp/tokens_per_sec in runs logged before the HParams metrics became run/*.
RUN_THROUGHPUT_TAGS = ("run/tokens_per_sec", "hp/tokens_per_sec")
# Runs logged before RUN_THROUGHPUT_TAGS existed: per-window throughputs, averaged here.
THROUGHPUT_TAG = "perf/tokens_per_sec"
TOKENS_SEEN_TAG = "train/tokens_seen"
# What a run without provenance.json (made before it existed) shows for its code and torch.
UNKNOWN = "unknown"
# A commit as the table shows it: enough digits to tell commits apart, as git's short form.
SHORT_COMMIT = 10
# The history.csv columns a comparison cannot do without (others, e.g. tokens_seen, may be absent).
READ_COLUMNS = ("val_loss", "val_ppl")


@dataclass
class RunRecord:
    name: str  # the folder, relative to the folder being compared
    overrides: list[str]
    error: str | None = None  # set when the run failed
    pruned: str | None = None  # set when a search stopped the run early, and why
    history: list[dict[str, float]] = field(default_factory=list)  # rows of history.csv
    tokens_per_sec: float = math.nan
    wall_time_s: float = math.nan
    # "fit": the time Trainer.fit took, from the run's summary.json (what its summary printed);
    # "events": older runs without one, first to last TensorBoard event.
    wall_time_source: str = ""
    # The resolved config's result settings (seed and neutral keys left out); None if unreadable.
    settings: dict[str, Any] | None = None
    seed: Any = None
    # Val loss at the token count every compared run reached (set by the comparison).
    val_loss_at_tokens: float = math.nan
    # From provenance.json, every leg of a resumed run: the commits (a wheel install: its
    # version), whether any had uncommitted changes, the torch versions. Empty: no record.
    commits: list[str] = field(default_factory=list)
    dirty: bool = False
    torch_versions: list[str] = field(default_factory=list)

    @property
    def commit(self) -> str:
        """The code the run came from, as the table shows it: ``*`` marks uncommitted changes."""
        if not self.commits:
            return UNKNOWN
        return "+".join(commit[:SHORT_COMMIT] for commit in self.commits) + ("*" if self.dirty else "")

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def status(self) -> str:
        return "failed" if self.failed else "pruned" if self.pruned else "ok"

    @property
    def best_val_loss(self) -> float:
        finite = (row["val_loss"] for row in self.history if not math.isnan(row["val_loss"]))
        return min(finite, default=math.nan)  # NaN: never validated, or diverged

    @property
    def final_val_loss(self) -> float:
        return self.history[-1]["val_loss"] if self.history else math.nan

    @property
    def final_val_ppl(self) -> float:
        return self.history[-1]["val_ppl"] if self.history else math.nan

    @property
    def train_flops(self) -> float:
        """Training FLOPs at the last validation (NaN for runs logged before FLOPs were counted)."""
        return self.history[-1].get("train_flops", math.nan) if self.history else math.nan


def find_run_dirs(root: Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself included), in the order they started."""
    return sorted(run_folders_under(root), key=lambda run: (run / RUN_CONFIG).stat().st_mtime)


def _number(text: str | None) -> float:
    """A CSV cell as a float; NaN when it is empty or missing (a row cut short by a crash)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [name for name in READ_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path} has no {', '.join(missing)} column")
            return [{key: _number(value) for key, value in row.items()} for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: {refusal_reason(err)}") from None


def read_overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides, without the search's trial bookkeeping or the
    checkpoint a resume continued it from."""
    return [o for o in started_with(run_dir) if not o.startswith(f"{TRIAL_NUMBER_KEY}=")]


def scalar_events(run_dir: Path) -> dict[str, list]:
    """Every scalar event of the run's TensorBoard logs, by tag (empty without logs)."""
    scalars: dict[str, list] = {}
    for log_dir in sorted({p.parent for p in run_dir.glob("**/events.out.tfevents.*")}):
        events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend(events.Scalars(tag))
    return scalars


def tokens_per_sec(scalars: dict[str, list]) -> float:
    """Training throughput: the run's own (the number its summary printed), or for older runs
    the mean of its logged windows, or an estimate from the tokens-seen counter (NaN if none).

    The estimate divides tokens by the wall time between the counter's first and last
    events, so it includes the time spent validating in between.
    """
    for tag in RUN_THROUGHPUT_TAGS:
        if tag in scalars:
            return max(scalars[tag], key=lambda event: (event.step, event.wall_time)).value
    if THROUGHPUT_TAG in scalars:
        values = [event.value for event in scalars[THROUGHPUT_TAG]]
        return sum(values) / len(values)
    counter = sorted(scalars.get(TOKENS_SEEN_TAG, []), key=lambda event: event.wall_time)
    if len(counter) < 2 or counter[-1].wall_time <= counter[0].wall_time:
        return math.nan
    return (counter[-1].value - counter[0].value) / (counter[-1].wall_time - counter[0].wall_time)


def events_wall_time_s(scalars: dict[str, list], run_dir: Path) -> float:
    """Seconds from the run's first to its last logged event, or between its files without logs:
    the estimate for runs older than summary.json (it includes the set-up before the fit)."""
    wall_times = [event.wall_time for events in scalars.values() for event in events]
    if len(wall_times) > 1:
        return max(wall_times) - min(wall_times)
    # Hydra writes the job's config when it starts; history.csv is rewritten at each validation.
    history = run_dir / "history.csv"
    if not history.is_file():
        return math.nan
    return history.stat().st_mtime - (run_dir / RUN_CONFIG).stat().st_mtime


def seed_of(overrides: list[str], config_file: Path) -> Any:
    """The run's seed: from its saved config, else from its overrides (None if neither has it)."""
    try:
        saved = OmegaConf.load(config_file)
        seed = saved.get(SEED_KEY) if isinstance(saved, DictConfig) else None
    except (OSError, OmegaConfBaseException, ValueError):
        seed = None
    if seed is None:  # an unreadable or older config: the overrides may still say
        seeds = [o.split("=", 1)[1] for o in overrides if override_key(o) == SEED_KEY]
        seed = seeds[-1] if seeds else None
    return seed


def wall_time(scalars: dict[str, list], run_dir: Path) -> tuple[float, str]:
    """The run's wall time and where it comes from (see ``RunRecord.wall_time_source``)."""
    recorded = recorded_wall_time(run_dir)
    if not math.isnan(recorded):
        return recorded, "fit"
    return events_wall_time_s(scalars, run_dir), "events"


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def read_code_provenance(record: RunRecord, run_dir: Path) -> None:
    """The commits, dirty flag and torch versions of the run's legs (nothing for older runs)."""
    provenance = read_provenance(run_dir)
    if provenance is None:
        return
    run_legs = legs(provenance)
    codes = [leg.get("code") or {} for leg in run_legs]
    record.commits = unique(
        [str(code.get("commit") or f"version {code.get('package_version') or UNKNOWN}") for code in codes]
    )
    record.dirty = any(code.get("dirty") for code in codes)
    versions = [(leg.get("versions") or {}).get("torch") for leg in run_legs]
    record.torch_versions = unique([str(v) for v in versions if v])


def read_run(run_dir: Path, root: Path) -> RunRecord:
    """The run as :func:`read_run_files` reads it; a run with a damaged file is listed as failed
    (with a one-line warning), so one bad folder never stops the comparison of the others."""
    try:
        return read_run_files(run_dir, root)
    except UNREADABLE as err:
        reason = unreadable_reason(err)
        warn(f"{run_dir} is unreadable ({reason}): listed as failed, the other runs compared")
        return RunRecord(name=str(run_dir.relative_to(root)), overrides=[], error=f"unreadable: {reason}")


def read_run_files(run_dir: Path, root: Path) -> RunRecord:
    """A run's overrides, settings, loss history, throughput and wall time; failed if marked or
    without results."""
    record = RunRecord(name=str(run_dir.relative_to(root)), overrides=read_overrides(run_dir))
    record.settings = read_settings(run_dir)
    record.seed = seed_of(record.overrides, run_dir / RUN_CONFIG)
    # A killed run leaves no FAILED marker: without its end in provenance.json it is not finished.
    record.error = failure_message(run_dir) or unended_message(run_dir)
    record.pruned = pruned_message(run_dir)
    read_code_provenance(record, run_dir)
    record.history = read_history(run_dir)
    if record.error is None and not record.history:
        record.error = "no validation results (history.csv missing or empty): crashed or still running"
    if record.error is None:
        scalars = scalar_events(run_dir)
        record.tokens_per_sec = tokens_per_sec(scalars)
        record.wall_time_s, record.wall_time_source = wall_time(scalars, run_dir)
    return record
