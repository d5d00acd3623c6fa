"""One search's study: checked when continued, told the trials' results, its best trial written out."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from gpt_experiments.config import override_key
from gpt_experiments.errors import ConfigError
from gpt_experiments.runs.status import pruned_message
from gpt_experiments.search.space import as_overrides

log = logging.getLogger(__name__)

# The study remembers the command that started it, to refuse continuing it with another one.
COMMAND_ATTR = "command"
# The best trial as a command line; written into the search folder.
BEST_OVERRIDES_FILE = "best_overrides.txt"
# Overrides that choose the search itself: left out of the best trial's command line.
SEARCH_KEYS = ("hparams_search",)


def describe_command(
    fixed: list[str], space: dict[str, BaseDistribution], neutral_keys: set[str]
) -> dict[str, Any]:
    """What makes two searches the same: fixed settings (but ``neutral_keys``) and search space."""
    settings = sorted(o for o in fixed if override_key(o) not in neutral_keys)
    return {"fixed": settings, "params": {key: repr(dist) for key, dist in sorted(space.items())}}


def check_same_command(study: optuna.Study, command: dict[str, Any], storage: str) -> None:
    """A continued study must search the same space with the same fixed settings."""
    started_with = study.user_attrs.get(COMMAND_ATTR)
    if started_with is None:
        study.set_user_attr(COMMAND_ATTR, command)
    elif started_with != command:
        raise ConfigError(
            f"study {study.study_name!r} in {storage} was started by another command "
            f"(fixed settings {' '.join(started_with['fixed']) or 'none'}; "
            f"search space {', '.join(started_with['params'])}): run that command to continue it, "
            f"or pass hydra.sweeper.study_name=<new name> to start a new study"
        )


def close_interrupted_trials(study: optuna.Study) -> None:
    """Trials still running in the storage belong to a command that was stopped: mark them failed."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        log.warning(f"Trial {trial.number} was interrupted by an earlier stop: marked failed")
        study.tell(trial.number, state=TrialState.FAIL)


def job_dir(result: JobReturn) -> Path:
    return Path(result.hydra_cfg.hydra.runtime.output_dir)


def record_result(study: optuna.Study, trial: optuna.Trial, result: JobReturn) -> None:
    """Tell the study how the trial's job ended: a value, pruned (its PRUNED file), or failed."""
    if result.status != JobStatus.COMPLETED:
        error = result._return_value  # the exception; reading return_value would raise it
        log.warning(f"Trial {trial.number} failed: {type(error).__name__}: {error}", exc_info=error)
        study.tell(trial, state=TrialState.FAIL)
    elif pruned_message(job_dir(result)) is not None:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, float(result.return_value))  # NaN: Optuna marks the trial failed


def best_trial_overrides(study: optuna.Study, fixed: list[str]) -> list[str] | None:
    """The command line that trains the best trial again; None while no trial has finished."""
    finished = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if math.isfinite(t.value)
    ]
    if not finished:
        return None
    best = study.best_trial
    own = [o for o in fixed if override_key(o) not in SEARCH_KEYS]
    return own + as_overrides(best.params)


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
    print(f"Best: trial {best.number}, value {best.value:.4f}")
    print(f"Train the best trial again (also in {sweep_dir / BEST_OVERRIDES_FILE}):")
    print(f"  python scripts/train.py {line}")
