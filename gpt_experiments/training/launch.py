"""What ``scripts/train.py`` does before Hydra starts: everything that can fail on bad input.

Hydra creates the run folder before calling the task, so checks made there leave a folder
behind. Here the config is composed with the same overrides, validated, the data read and
``resume=`` resolved first; a mistake ends the command with nothing written.
"""

from __future__ import annotations

import errno
import os
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gpt_experiments.checkpoints.project import check_weights_fit
from gpt_experiments.checkpoints.sharded import (
    is_sharded_checkpoint,
    read_checkpoint_settings,
    saved_model_weights,
)
from gpt_experiments.config import override_key, resolved_values, typed_override
from gpt_experiments.convert.formats import check_pretrained_fits
from gpt_experiments.data.windowed_data import WindowedData
from gpt_experiments.errors import CheckpointError, ConfigError, warn
from gpt_experiments.files import remove_stale_temporaries
from gpt_experiments.legacy import renamed_targets
from gpt_experiments.model import GPTConfig
from gpt_experiments.training.compose import compose_config
from gpt_experiments.training.config_checks import (
    architecture_values,
    check_sampler,
    model_settings,
    validate_settings,
    validate_targets,
)
from gpt_experiments.training.resume import (
    Rebuild,
    ResumePlan,
    already_finished,
    differing_settings,
    plan_resume,
    run_of_same_command,
    saved_config,
)
from gpt_experiments.training.run_checks import check_run_settings
from gpt_experiments.training.run_lock import is_first_process, lock_run_dir


def prepare_run(
    conf_dir: Path, config_name: str, overrides: list[str], composed: DictConfig | None = None
) -> list[str] | None:
    """Check a single run's command line; returns the overrides to hand to Hydra, or None when
    there is nothing to run (``resume=`` names a run that has already finished).

    ``composed``: the config these overrides compose into, when the caller already has it.
    With ``resume=``, the overrides gain the resumed run's own overrides, its checkpoint as
    ``ckpt_path`` and its folder as ``hydra.run.dir`` (so logs and history continue there).
    """
    cfg = composed if composed is not None else compose_config(conf_dir, config_name, overrides)
    plan = None
    if cfg.get("resume"):
        if cfg.get("ckpt_path"):
            raise ConfigError("resume= and ckpt_path= are both set: use resume= alone")
        rebuild = partial(compose_config, conf_dir, config_name)
        plan = plan_resume(str(cfg.resume), cfg, rebuild)
        if plan is None:
            print("resume=auto: no earlier run of this config has a checkpoint; starting a new run")
            hint_run_of_same_command(Path(cfg.paths.log_dir), overrides, cfg, rebuild)
        elif already_finished(plan, cfg):
            print(
                f"resume={cfg.resume}: {plan.run_dir} already finished; nothing changed "
                "(train it longer with a larger trainer.max_epochs or trainer.max_steps)"
            )
            return None
        else:
            overrides = resume_overrides(plan, overrides)  # reads the run's saved overrides
            if plan.run_dir is not None:
                # Before Hydra rewrites the folder's .hydra/: a second resume stops here.
                lock_run_dir(plan.run_dir)
                clean_killed_saves(plan.run_dir)
            print(f"Resuming from {plan.checkpoint}")
            cfg = compose_config(conf_dir, config_name, overrides)
    # Cheapest first: what needs only this project, then what loads Lightning (seconds), then
    # the data (a large corpus is tokenized, for minutes, the first time it is read).
    validate_settings(cfg)
    check_writable(Path(plan.run_dir if plan and plan.run_dir else cfg.paths.log_dir))
    if cfg.get("ckpt_path"):
        check_checkpoint(Path(cfg.ckpt_path), architecture_values(cfg.model), optimizer_target(cfg))
    validate_targets(cfg)
    check_run_settings(cfg)
    tokenizer = resolved_values(cfg.tokenizer, "tokenizer") if "tokenizer" in cfg else None
    data = WindowedData(**resolved_values(cfg.data, "data"), tokenizer=tokenizer, seed=cfg.seed)
    data.load_windows()  # reads and tokenizes (into the cache) now, so data errors come first
    # vocab_size must fit the tokenizer, and a pretrained init the whole model.
    model = model_settings(architecture_values(cfg.model), data.tokenizer)
    check_sampler(cfg, model["vocab_size"])
    if cfg.get("ckpt_path") and cfg.model.get("vocab_size") is None:  # now the tokenizer's size
        check_checkpoint(Path(cfg.ckpt_path), model, optimizer_target(cfg))
    if cfg.get("init") is not None and not cfg.get("ckpt_path"):  # a resumed run keeps its own weights
        init = resolved_values(cfg.init, "init")
        check_pretrained_fits(init["path"], init.get("fmt", "auto"), GPTConfig(**model))
    return overrides


def clean_killed_saves(run_dir: Path) -> None:
    """Remove what saves killed half-way left in the run (a checkpoint's size each), now that
    this process holds the folder (the processes a launcher adds leave it to the first)."""
    if not is_first_process():
        return
    freed = remove_stale_temporaries(run_dir)
    if freed:
        print(f"Removed temporary files of killed saves in {run_dir} ({freed / 1e6:,.1f} MB)")


def check_writable(folder: Path) -> None:
    """Hydra makes the run folder and writes into it before any of our code can report a
    failure in one line: check first that the folder (or where it would be made) is writable."""
    existing = next(p for p in [folder, *folder.parents] if p.exists())
    if not os.access(existing, os.W_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        code = errno.EROFS if read_only else errno.EACCES
        raise OSError(code, f"{os.strerror(code)}: choose another paths.log_dir", str(existing))


def hint_run_of_same_command(log_dir: Path, overrides: list[str], cfg: DictConfig, rebuild: Rebuild) -> None:
    """Name a run of this command line whose settings differ (older defaults), and how to continue it."""
    run = run_of_same_command(log_dir, overrides)
    if run is not None:
        changed = ", ".join(differing_settings(saved_config(run, rebuild), cfg))
        warn(
            f"{run} was started with the same command line, but its settings differ from today's "
            f"({changed}): continue it anyway with {typed_override('resume', run)}"
        )


def resume_overrides(plan: ResumePlan, overrides: list[str]) -> list[str]:
    """The run's saved overrides, then this command's (later ones win), then where to resume.

    ``resume=`` itself is dropped: it is resolved into ``ckpt_path`` and ``hydra.run.dir``,
    and the processes Lightning starts for more devices rerun this command line.
    """
    merged = {override_key(o): o for o in [*plan.saved_overrides(), *overrides]}
    merged.pop("resume", None)
    resumed = [*merged.values(), f"ckpt_path={quote(plan.checkpoint)}"]
    if plan.run_dir is not None:
        resumed.append(f"hydra.run.dir={quote(plan.run_dir)}")
    return resumed


def quote(path: Path) -> str:
    """A path as a quoted Hydra override value, safe with spaces, '=' or ','."""
    escaped = str(path.resolve()).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def optimizer_target(cfg: DictConfig) -> str | None:
    return cfg.optimizer.get("_target_") if "optimizer" in cfg else None


def check_checkpoint(path: Path, model: dict[str, Any], optimizer: str | None) -> None:
    """The file must be a training checkpoint of a model shaped like the configured one,
    with the state of the configured optimizer."""
    sharded = is_sharded_checkpoint(path)  # its optimizer state is in the DCP files
    # Only the settings are read here (of a sharded folder, after its DCP files pass the check).
    checkpoint = read_checkpoint_settings(path, mmap=True)
    saved = checkpoint.get("hyper_parameters", {}).get("model") if isinstance(checkpoint, dict) else None
    if saved is None or not (sharded or "optimizer_states" in checkpoint):
        raise CheckpointError(
            f"{path} is not a training checkpoint of this project (no model settings or optimizer state): "
            "pass a .ckpt written by scripts/train.py"
        )
    saved_spec = renamed_targets(checkpoint["hyper_parameters"].get("optimizer") or {})  # in today's names
    saved_optimizer = saved_spec.get("_target_", optimizer)
    if optimizer is not None and saved_optimizer != optimizer:
        raise CheckpointError(
            f"{path} holds the state of optimizer {saved_optimizer}, not of the configured "
            f"{optimizer}: continue with the optimizer it was trained with, or start afresh "
            f"from its weights with init=project {typed_override('init.path', path)}"
        )
    if model.get("vocab_size") is None:  # null follows the tokenizer: the train step checks it
        model = {**model, "vocab_size": saved["vocab_size"]}
    current = GPTConfig(**model).to_dict()
    differing = [key for key in current if key != "drop_rate" and saved[key] != current[key]]
    if differing:
        theirs = " ".join(f"model.{key}={saved[key]}" for key in differing)
        ours = ", ".join(f"{key}={current[key]}" for key in differing)
        raise CheckpointError(
            f"{path} holds a different model ({theirs}) than the config ({ours}): "
            f"pass {theirs}, or leave out ckpt_path/resume to start afresh"
        )
    # Settings that match are not enough: the tensors must be what they describe, or Lightning
    # fails deep inside load_state_dict after the data and model are built.
    check_weights_fit(GPTConfig(**model), saved_model_weights(path, checkpoint), path)
