"""One search's study: checked when continued, told the trials' results, its best trial written out."""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from gpt_experiments.config import override_key
from gpt_experiments.errors import ConfigError, warn
from gpt_experiments.result_keys import SEED_KEY, matches
from gpt_experiments.runs.status import pruned_message
from gpt_experiments.search.space import as_overrides

log = logging.getLogger(__name__)

# The study remembers the command that started it, to refuse continuing it with another one.
COMMAND_ATTR = "command"
# The best trial as a command line; written into the search folder.
BEST_OVERRIDES_FILE = "best_overrides.txt"
# Overrides that choose the search itself: left out of the best trial's command line.
SEARCH_KEYS = ("hparams_search",)
# A trial's user attributes: the seeds its jobs ran with, each one's result, their spread.
SEEDS_ATTR = "seeds"
SEED_VALUES_ATTR = "seed_values"
STD_ATTR = "value_std"
# Differences named in a refusal; the rest are counted.
SHOWN_DIFFERENCES = 6


def describe_command(
    settings: dict[str, Any], space: dict[str, BaseDistribution], seeds_per_trial: int
) -> dict[str, Any]:
    """What makes two searches the same: the result settings outside the searched keys (the
    resolved config, less the seed and result-neutral keys), the search space and how many seeds
    make a trial's value. JSON-normalised, so it compares equal to itself read back from storage."""
    fixed = {key: value for key, value in sorted(settings.items()) if not matches(key, tuple(space))}
    params = {key: repr(dist) for key, dist in sorted(space.items())}
    return json.loads(json.dumps({"settings": fixed, "params": params, "seeds_per_trial": seeds_per_trial}))


def differences(recorded: dict[str, Any], command: dict[str, Any]) -> list[str]:
    """``key (value there, value here)`` for each setting, searched key or seed count that differs."""
    found = []
    for section, prefix in (("settings", ""), ("params", "search space ")):
        there, here = recorded.get(section, {}), command[section]
        for key in sorted(set(there) | set(here)):
            if there.get(key, _UNSET) == here.get(key, _UNSET) or _under_a_value(key, there, here):
                continue
            found.append(f"{prefix}{key} ({_shown(there, key)} there, {_shown(here, key)} here)")
    if recorded.get("seeds_per_trial", 1) != command["seeds_per_trial"]:
        found.append(
            f"hydra.sweeper.seeds_per_trial ({recorded.get('seeds_per_trial', 1)} there, "
            f"{command['seeds_per_trial']} here)"
        )
    return found


_UNSET = object()


def _under_a_value(key: str, *sides: dict[str, Any]) -> bool:
    """Whether a parent of ``key`` is a plain value on one side (``callbacks.text_samples=null``):
    that parent's own difference says it all."""
    parents = [key[:i] for i, char in enumerate(key) if char == "."]
    return any(parent in side for side in sides for parent in parents)


def _shown(side: dict[str, Any], key: str) -> str:
    """A setting's value as written on a command line; a group of keys as ``{...}``."""
    if key not in side:
        return "{...}" if any(k.startswith(f"{key}.") for k in side) else "unset"
    value = side[key]
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def is_legacy(recorded: dict[str, Any]) -> bool:
    """Studies started before the settings were recorded hold ``{"fixed": [...], "params": ...}``,
    where ``fixed`` never held the command line's settings (they were all taken as neutral)."""
    return "settings" not in recorded


def check_same_command(study: optuna.Study, command: dict[str, Any], storage: str) -> None:
    """A continued study must be run by the same command: same settings, space and seed count.

    Writes nothing, so a refused command leaves the study's files as they were.
    """
    recorded = study.user_attrs.get(COMMAND_ATTR)
    if recorded is None:
        return
    if is_legacy(recorded):
        recorded = {**command, "params": recorded["params"]}  # only its search space is known
    found = differences(recorded, command)
    if found:
        shown = "; ".join(found[:SHOWN_DIFFERENCES])
        more = f"; and {len(found) - SHOWN_DIFFERENCES} more" if len(found) > SHOWN_DIFFERENCES else ""
        raise ConfigError(
            f"study {study.study_name!r} in {storage} was started by another command: {shown}{more}; "
            f"run that command to continue it, or pass hydra.sweeper.study_name=<new name> to start "
            f"a new study (nothing was changed)"
        )


def record_command(study: optuna.Study, command: dict[str, Any]) -> None:
    """Store the command with a new study, or with one recorded before settings were."""
    recorded = study.user_attrs.get(COMMAND_ATTR)
    if recorded is not None and is_legacy(recorded):
        warn(
            f"study {study.study_name!r} was recorded without its settings: its trials are taken to "
            "have run with this command's, which are recorded from now on"
        )
    if recorded is None or is_legacy(recorded):
        study.set_user_attr(COMMAND_ATTR, command)


def close_interrupted_trials(study: optuna.Study) -> None:
    """Trials still running in the storage belong to a command that was stopped: mark them failed."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        log.warning(f"Trial {trial.number} was interrupted by an earlier stop: marked failed")
        study.tell(trial.number, state=TrialState.FAIL)


def job_dir(result: JobReturn) -> Path:
    return Path(result.hydra_cfg.hydra.runtime.output_dir)


@dataclass
class TrialJobs:
    """One trial's jobs, one per seed, and how they ended. A failed or pruned job ends the
    trial, and so does a bad setting (inf): its remaining seeds are not run."""

    trial: optuna.Trial
    values: dict[int, float] = field(default_factory=dict)  # seed -> the job's best val loss
    ended: TrialState | None = None  # FAIL or PRUNED

    @property
    def going(self) -> bool:
        return self.ended is None and not any(math.isinf(v) for v in self.values.values())

    def add(self, seed: int, result: JobReturn) -> None:
        if result.status != JobStatus.COMPLETED:
            error = result._return_value  # the exception; reading return_value would raise it
            log.warning(
                f"Trial {self.trial.number} (seed {seed}) failed: {type(error).__name__}: {error}",
                exc_info=error,
            )
            self.ended = TrialState.FAIL
        elif pruned_message(job_dir(result)) is not None:
            self.ended = TrialState.PRUNED
        else:
            self.values[seed] = float(result.return_value)


def record_trial(study: optuna.Study, jobs: TrialJobs) -> None:
    """Tell the study a trial's result: the mean over its seeds (their values and spread kept as
    user attributes), or pruned, or failed."""
    trial = jobs.trial
    values = list(jobs.values.values())
    trial.set_user_attr(SEEDS_ATTR, list(jobs.values))
    trial.set_user_attr(SEED_VALUES_ATTR, values)
    if jobs.ended is not None:
        study.tell(trial, state=jobs.ended)
        return
    finite = len(values) > 1 and all(math.isfinite(v) for v in values)
    trial.set_user_attr(STD_ATTR, statistics.stdev(values) if finite else None)  # sample std (n - 1)
    study.tell(trial, math.fsum(values) / len(values))  # inf: a bad setting; NaN: Optuna marks it failed


def best_trial_overrides(study: optuna.Study, fixed: list[str]) -> list[str] | None:
    """The command line that trains the best trial again, on the seeds it was measured with
    (a ``-m`` run over them when there were several); None while no trial has finished."""
    finished = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if math.isfinite(t.value)
    ]
    if not finished:
        return None
    best = study.best_trial
    own = [o for o in fixed if override_key(o) not in (*SEARCH_KEYS, SEED_KEY)]
    seeds = best.user_attrs.get(SEEDS_ATTR, [])  # none in trials recorded before seeds were
    pinned = [f"{SEED_KEY}={','.join(str(s) for s in seeds)}"] if seeds else []
    return ["-m"] * (len(seeds) > 1) + own + as_overrides(best.params) + pinned


def write_best(study: optuna.Study, fixed: list[str], sweep_dir: Path) -> None:
    """Write the best trial's overrides into the search folder and print them, ready to paste."""
    overrides = best_trial_overrides(study, fixed)
    if overrides is None:
        print("No trial has finished with a result yet: no best parameters.")
        return
    line = " ".join(overrides)
    (sweep_dir / BEST_OVERRIDES_FILE).write_text(line + "\n")
    best = study.best_trial
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s.name.lower()}" for s in TrialState if states.count(s))
    print(f"Study {study.study_name!r}: {len(states)} trials ({counts})")
    print(f"Best: trial {best.number}, value {best.value:.4f}{spread(best.user_attrs)}")
    print(f"Train the best trial again (also in {sweep_dir / BEST_OVERRIDES_FILE}):")
    print(f"  python scripts/train.py {line}")


def spread(attrs: dict[str, Any]) -> str:
    """`` (mean of 3 seeds, std 0.0123)`` for a trial measured over several seeds, else nothing."""
    values = attrs.get(SEED_VALUES_ATTR, [])
    if len(values) < 2:
        return ""
    std = attrs.get(STD_ATTR)
    return (
        f" (mean of {len(values)} seeds, std {std:.4f})"
        if std is not None
        else f" (mean of {len(values)} seeds)"
    )
