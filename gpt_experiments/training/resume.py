"""``resume=``: which run folder and checkpoint a run continues from.

``resume=auto`` picks the newest run under ``<paths.log_dir>/runs`` whose saved config is
the same as this one, ignoring the keys that may differ between the legs of one run
(``RUN_SPECIFIC_KEYS``: those that never change results, and how long to train, so a
finished run can be continued for more epochs). ``resume=<run folder>`` or ``resume=<file.ckpt>`` names it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gpt_experiments.checkpoints.sharded import is_sharded_checkpoint, read_checkpoint_settings
from gpt_experiments.config import override_key
from gpt_experiments.errors import CheckpointError, ConfigError, DataError, UnsafeCheckpointError, warn
from gpt_experiments.legacy import drop_key, upgrade_config
from gpt_experiments.result_keys import LENGTH_KEYS, RESULT_NEUTRAL_KEYS, flatten
from gpt_experiments.run_folder import saved as hydra_files
from gpt_experiments.run_folder.history import SUMMARY_JSON
from gpt_experiments.run_folder.status import failure_message

# Keys that may differ between the legs of one run: those that never change results, and
# how long to train (a finished run can be continued for more epochs).
RUN_SPECIFIC_KEYS = (*RESULT_NEUTRAL_KEYS, *LENGTH_KEYS)
# Overrides resume= itself adds; they are not re-applied from a run's saved overrides.
RESUME_OVERRIDE_KEYS = ("resume", "ckpt_path", "hydra.run.dir")


@dataclass
class ResumePlan:
    checkpoint: Path
    # The run folder to keep writing in; None for a checkpoint outside any run folder.
    run_dir: Path | None

    def saved_overrides(self) -> list[str]:
        """The command-line overrides the run was started with, so it is rebuilt the same."""
        return [] if self.run_dir is None else saved_overrides(self.run_dir)


def saved_overrides(run_dir: Path) -> list[str]:
    """The overrides ``run_dir`` was started with, less those resume= added."""
    overrides = hydra_files.saved_override_list(run_dir)
    return [o for o in overrides if override_key(o) not in RESUME_OVERRIDE_KEYS]


def config_fingerprint(cfg: DictConfig | dict[str, Any]) -> str:
    """A hash of the config without its run-specific keys: equal for legs of the same run.

    Configs saved before the package layout changed are read in today's names first.
    """
    plain = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=False)
    config = upgrade_config(plain)
    for dotted in RUN_SPECIFIC_KEYS:
        drop_key(config, dotted)
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoints_newest_first(run_dir: Path) -> list[Path]:
    """The run's checkpoints, newest first; of equally new ones, ``last.ckpt`` first.

    ``last.ckpt`` is often a hard link to the best checkpoint (one file, one mtime). Resumed
    from the best file's name, Lightning would never delete that file when a better one comes.
    """
    checkpoints = (run_dir / "checkpoints").glob("*.ckpt")
    return sorted(checkpoints, key=lambda p: (p.stat().st_mtime, p.name == "last.ckpt"), reverse=True)


def newest_loadable_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint of the run that loads; unreadable ones are skipped with a warning."""
    for path in checkpoints_newest_first(run_dir):
        try:
            read_checkpoint_settings(path)
            return path
        except UnsafeCheckpointError:
            raise  # planted code is not a crash in the middle of a save: never passed over
        except CheckpointError as err:
            warn(f"{err}; falling back to an older checkpoint")
    return None


# Today's config for a list of overrides (``compose_config`` with the command's config folder).
Rebuild = Callable[[list[str]], DictConfig]


def saved_config(run_dir: Path, rebuild: Rebuild | None = None) -> dict[str, Any]:
    """The run's saved config; with ``rebuild``, in today's shape: settings added since it was
    saved are filled in with what its own overrides give today (the defaults it effectively
    ran with), and settings that no longer exist are dropped."""
    config = OmegaConf.to_container(hydra_files.saved_config(run_dir), resolve=False)
    if rebuild is None:
        return config
    try:
        today = OmegaConf.to_container(rebuild(saved_overrides(run_dir)), resolve=False)
    except ConfigError:  # overrides that no longer compose: compare the saved config as it is
        return config
    return in_shape_of(config, today)


def in_shape_of(saved: Any, today: Any) -> Any:
    """``saved``'s values in ``today``'s keys, at any depth: missing keys come from ``today``."""
    if not (isinstance(saved, dict) and isinstance(today, dict)):
        return saved
    return {key: in_shape_of(saved[key], value) if key in saved else value for key, value in today.items()}


def run_dirs(log_dir: Path) -> list[Path]:
    """The run folders under ``log_dir``; one whose saved config or overrides are damaged is
    skipped with a warning, so it never blocks resuming the others."""
    readable = []
    for run in hydra_files.run_folders_under(log_dir / "runs"):
        try:
            hydra_files.saved_config(run)
            hydra_files.saved_override_list(run)
        except DataError as err:
            warn(f"{err}: resume=auto skips that run (repair or delete the folder)")
            continue
        readable.append(run)
    return readable


def find_run_to_resume(log_dir: Path, cfg: DictConfig, rebuild: Rebuild | None = None) -> ResumePlan | None:
    """The newest run of the same config with a loadable checkpoint, if there is one."""
    fingerprint = config_fingerprint(cfg)
    same = [run for run in run_dirs(log_dir) if config_fingerprint(saved_config(run, rebuild)) == fingerprint]
    same = [run for run in same if checkpoints_newest_first(run)]
    for run in sorted(same, key=lambda r: checkpoints_newest_first(r)[0].stat().st_mtime, reverse=True):
        checkpoint = newest_loadable_checkpoint(run)
        if checkpoint is not None:
            return ResumePlan(checkpoint, run)
    return None


def run_of_same_command(log_dir: Path, overrides: list[str]) -> Path | None:
    """The newest run with a checkpoint started with these overrides, whatever its config.

    When ``resume=auto`` finds no run of the same config, such a run was made by a version
    of this project whose defaults differ: worth naming, never picked silently.
    """
    wanted = sorted(o for o in overrides if override_key(o) not in RESUME_OVERRIDE_KEYS)
    runs = [run for run in run_dirs(log_dir) if checkpoints_newest_first(run)]
    same = [run for run in runs if sorted(saved_overrides(run)) == wanted]
    return max(same, key=lambda run: checkpoints_newest_first(run)[0].stat().st_mtime, default=None)


def already_finished(plan: ResumePlan, cfg: DictConfig) -> bool:
    """Whether the run has trained as long as ``cfg`` asks: its closing summary was written after
    its newest checkpoint, it is not marked failed, and its length settings are ``cfg``'s
    (a longer ``trainer.max_epochs`` or ``max_steps`` continues it)."""
    run = plan.run_dir
    if run is None or failure_message(run) is not None or not (run / SUMMARY_JSON).is_file():
        return False
    if (run / SUMMARY_JSON).stat().st_mtime < plan.checkpoint.stat().st_mtime:
        return False
    ours = flatten(OmegaConf.to_container(cfg, resolve=False))
    theirs = flatten(saved_config(run))
    return all(ours.get(key) == theirs.get(key) for key in LENGTH_KEYS)


def differing_settings(saved: dict[str, Any], today: DictConfig) -> list[str]:
    """Dotted keys whose values differ between a saved config and today's (run-specific ones aside)."""
    ours = upgrade_config(OmegaConf.to_container(today, resolve=False))
    theirs = upgrade_config(saved)
    for dotted in RUN_SPECIFIC_KEYS:
        drop_key(ours, dotted)
        drop_key(theirs, dotted)
    return sorted(key for key, value in flatten(ours).items() if flatten(theirs).get(key, value) != value)


def plan_resume(resume: str, cfg: DictConfig, rebuild: Rebuild | None = None) -> ResumePlan | None:
    """Resolve ``resume=auto | <run folder> | <file.ckpt>``; None when auto finds nothing."""
    if resume == "auto":
        return find_run_to_resume(Path(cfg.paths.log_dir), cfg, rebuild)
    return plan_resume_from_path(resume)


def plan_resume_from_path(resume: str) -> ResumePlan:
    """``resume=<run folder>`` (its newest loadable checkpoint) or ``resume=<file.ckpt>``."""
    path = Path(resume).expanduser()
    if path.is_dir() and not is_sharded_checkpoint(path):  # a sharded checkpoint is a folder too
        checkpoint = newest_loadable_checkpoint(path)
        if checkpoint is None:
            raise CheckpointError(
                f"resume={resume}: the folder holds no loadable checkpoint in checkpoints/: "
                "pass a run folder that has saved one, or leave resume out to start afresh"
            )
        return ResumePlan(checkpoint, path)
    if path.is_file() or is_sharded_checkpoint(path):
        in_run = path.parent.name == "checkpoints" and (path.parent.parent / ".hydra").is_dir()
        return ResumePlan(path, path.parent.parent if in_run else None)
    raise ConfigError(f"resume={resume} does not exist: pass resume=auto, a run folder or a .ckpt file")
