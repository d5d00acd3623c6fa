"""The config and overrides Hydra saved in a run's ``.hydra/`` folder, read so that a damaged
file is one ``DataError`` naming it, whichever command reads it."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gpt_experiments.errors import DataError, UserError, refusal_reason

# Hydra writes the job's composed config here when it starts: a folder holding it is a run folder.
RUN_CONFIG = Path(".hydra") / "config.yaml"

# What a damaged file in a run folder raises while it is read (bad bytes, YAML or CSV).
UNREADABLE = (OSError, ValueError, csv.Error, yaml.YAMLError, OmegaConfBaseException)


def unreadable_reason(err: BaseException) -> str:
    """One line on a damaged file (YAML's own message spans several); this project's own
    messages whole, a library's cut short."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        return f"line {err.problem_mark.line + 1}: {err.problem}"
    return str(err) if isinstance(err, UserError) else refusal_reason(err)


def load_saved(path: Path, kind: type[DictConfig] | type[ListConfig]) -> DictConfig | ListConfig:
    """``path`` (a ``.hydra/*.yaml``), which must hold a mapping (config) or a list (overrides)."""
    try:
        node = OmegaConf.load(path)
    except UNREADABLE as err:
        raise DataError(f"{path} is unreadable ({unreadable_reason(err)})") from None
    if not isinstance(node, kind):
        shape = "mapping" if kind is DictConfig else "list"
        raise DataError(f"{path} is damaged (not a YAML {shape})")
    return node


def saved_config(run_dir: Path) -> DictConfig:
    """The run's ``.hydra/config.yaml``."""
    return load_saved(run_dir / RUN_CONFIG, DictConfig)


def run_folders_under(root: Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself included), as named under ``root``.

    Symbolic links to folders are followed (a sweep assembled from links to runs kept
    elsewhere is a sweep like any other), each real folder once: a link back up the tree
    or a second link to the same run adds nothing.
    """
    found, seen = [], set()
    for folder, subfolders, _ in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()  # reached before through another link: its runs are listed
            continue
        seen.add(real)
        if (Path(folder) / RUN_CONFIG).is_file():
            found.append(Path(folder))
    return found


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder ``path`` names: the folder itself, or the one above the ``checkpoints/``
    a checkpoint is in; None when that holds no run config."""
    path = Path(path)
    run = path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else None
    return run if run is not None and (run / RUN_CONFIG).is_file() else None


def saved_override_list(run_dir: Path) -> list[str]:
    """The run's ``.hydra/overrides.yaml`` (empty when there is none)."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return [str(item) for item in load_saved(path, ListConfig)] if path.is_file() else []


def started_with(run_dir: Path) -> list[str]:
    """The overrides the run was started with: its saved ones less the ``ckpt_path`` a resume
    added (a checkpoint in the run's own folder; one from elsewhere is where it started from)."""
    return [o for o in saved_override_list(run_dir) if not resumes_from_itself(o, run_dir)]


def resumes_from_itself(override: str, run_dir: Path) -> bool:
    if not override.startswith("ckpt_path="):
        return False
    try:
        value = OverridesParser.create().parse_override(override).value()
    except HydraException:
        return False
    return isinstance(value, str) and Path(value).resolve().is_relative_to(run_dir.resolve())
