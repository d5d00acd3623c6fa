"""The training entry point: a composed Hydra config in, the run's best validation loss out."""

from __future__ import annotations

import gc
import math
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gpt_experiments import library_internals as internals
from gpt_experiments.checkpoints.lightning_io import AtomicCheckpointIO
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.run_folder.history import recorded_wall_time
from gpt_experiments.training.callbacks.compile_time import CompileTimeReport
from gpt_experiments.training.callbacks.history import LossHistory
from gpt_experiments.training.callbacks.hparams_session import HParamsSession
from gpt_experiments.training.callbacks.log_interval import LogEveryEpoch
from gpt_experiments.training.callbacks.loss_guard import StopOnNonFiniteLoss
from gpt_experiments.training.callbacks.progress import CompactModelSummary, RunProgressBar
from gpt_experiments.training.callbacks.resumed_epoch import ResumedEpochProgress
from gpt_experiments.training.callbacks.rng_state import RNGStateCheckpoint
from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal
from gpt_experiments.training.callbacks.throughput import SpeedMonitor
from gpt_experiments.training.config_checks import model_settings, validate_config
from gpt_experiments.training.hparams import CommandLine, select_hparams, setting_group_name
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.quiet import quiet_third_party_messages
from gpt_experiments.training.run_checks import check_run_settings
from gpt_experiments.training.summary import RunSummary, format_summary, save_summary

# Lightning cannot tell that GPTDataModule restores the position in the epoch itself.
warnings.filterwarnings(
    "ignore", message="You're resuming from a checkpoint that ended before the epoch ended"
)

quiet_third_party_messages()


def plain(node: Any) -> Any:
    """A resolved config node as plain Python containers (safe to pickle and to log)."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def build_callbacks(cfg: DictConfig, output_dir: Path, command_line: CommandLine) -> list[L.Callback]:
    callbacks = [instantiate(spec) for spec in (cfg.get("callbacks") or {}).values() if spec is not None]
    if cfg.get("init") is not None:
        callbacks.append(instantiate(cfg.init))  # loads pretrained weights when the fit starts
    # Always on: what exact resume and safe stops rely on, whatever the callbacks group says.
    reliability = [
        RNGStateCheckpoint(),
        ResumedEpochProgress(),
        StopOnNonFiniteLoss(),
        SaveAndStopOnSignal(output_dir),
    ]
    hparams = HParamsSession(select_hparams(cfg, command_line), command_line.swept, setting_group_name(cfg))
    console = [hparams, LogEveryEpoch()]
    if cfg.trainer.get("enable_progress_bar", True):
        console.append(RunProgressBar())
    if cfg.trainer.get("enable_model_summary", True):
        console.append(CompactModelSummary())
    if cfg.get("compile"):
        console.append(CompileTimeReport())
    return [*callbacks, LossHistory(str(output_dir)), *reliability, *console]


def apply_token_budget(trainer: L.Trainer, max_tokens: int, data: DictConfig) -> int:
    """Make ``trainer`` stop after ``max_tokens`` training tokens (all ranks together).

    Returns the number of optimizer steps that takes; the epoch limit is lifted.
    """
    tokens_per_step = data.batch_size * data.max_length * trainer.accumulate_grad_batches * trainer.world_size
    steps = math.ceil(max_tokens / tokens_per_step)
    internals.limit_steps(trainer, steps)
    return steps


def find_callback(trainer: L.Trainer, kind: type[L.Callback], **attributes: Any) -> Any:
    matches = (cb for cb in trainer.callbacks if isinstance(cb, kind))
    return next((cb for cb in matches if all(getattr(cb, k) == v for k, v in attributes.items())), None)


def summarize_run(
    trainer: L.Trainer, module: GPTLitModule, output_dir: Path, wall_time_s: float, compare_dir: Path
) -> RunSummary:
    best = find_callback(trainer, ModelCheckpoint, monitor="val/loss")
    speed = find_callback(trainer, SpeedMonitor)
    return RunSummary(
        run_dir=output_dir,
        best_checkpoint=Path(best.best_model_path) if best is not None and best.best_model_path else None,
        best_val_loss=float(module.best_val_loss),
        tokens_seen=int(module.tokens_seen),
        wall_time_s=wall_time_s,
        tokens_per_sec=speed.tokens_per_sec if speed is not None else math.nan,
        compare_dir=compare_dir,
    )


def train(
    cfg: DictConfig,
    output_dir: str | Path,
    command_line: CommandLine | None = None,
    sweep_dir: str | Path | None = None,
) -> float:
    """Train as ``cfg`` says, writing everything under ``output_dir``; returns the best val loss.

    ``command_line`` (the run's overrides; in a sweep, which keys vary) chooses what the
    HParams tab shows; ``sweep_dir`` is the folder the closing summary says to compare.
    """
    output_dir = Path(output_dir)
    command_line = command_line or CommandLine()
    validate_config(cfg)
    check_run_settings(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = GPTDataModule(**plain(cfg.data), tokenizer=plain(cfg.get("tokenizer")), seed=cfg.seed)
    tokenizer = datamodule.tokenizer  # a char tokenizer reads the corpus here
    module = GPTLitModule(
        model=model_settings(plain(cfg.model), tokenizer),
        tokenizer=tokenizer.to_dict(),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        compile_model=cfg.get("compile", False),
    )
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=build_callbacks(cfg, output_dir, command_line),
        plugins=[AtomicCheckpointIO()],
    )
    if cfg.get("max_tokens"):
        steps = apply_token_budget(trainer, cfg.max_tokens, cfg.data)
        print(f"max_tokens={cfg.max_tokens:,}: training for {steps:,} optimizer steps")
    # A resumed run continues in its folder: its wall time adds the legs before this one.
    earlier_legs_s = recorded_wall_time(output_dir) if cfg.get("ckpt_path") else math.nan
    earlier_legs_s = 0.0 if math.isnan(earlier_legs_s) else earlier_legs_s
    started = time.monotonic()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        compare_dir = Path(sweep_dir) if sweep_dir is not None else output_dir
        wall_time_s = time.monotonic() - started + earlier_legs_s
        summary = summarize_run(trainer, module, output_dir, wall_time_s, compare_dir)
        rank_zero_only(save_summary)(summary)
        rank_zero_only(print)(format_summary(summary))
        return float(module.best_val_loss)
    finally:
        stop_on_signal = find_callback(trainer, SaveAndStopOnSignal)
        # Sweeps run many jobs in one process: drop references so memory is returned.
        del trainer, module, datamodule
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        stop_on_signal.release()
