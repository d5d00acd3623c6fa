"""The training entry point: a composed Hydra config in, the run's best validation loss out."""

from __future__ import annotations

import gc
import math
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gpt_experiments import library_internals as internals
from gpt_experiments.checkpoints.lightning_io import AtomicCheckpointIO
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.model_flops import non_embedding_parameters
from gpt_experiments.run_folder.history import recorded_wall_time
from gpt_experiments.run_folder.provenance import record_end, record_start
from gpt_experiments.run_folder.status import pruned_message
from gpt_experiments.training.callbacks.compile_time import CompileTimeReport
from gpt_experiments.training.callbacks.fit_clock import FitClock
from gpt_experiments.training.callbacks.history import LossHistory
from gpt_experiments.training.callbacks.hparams_session import HParamsSession
from gpt_experiments.training.callbacks.log_interval import LogEveryEpoch
from gpt_experiments.training.callbacks.loss_guard import StopOnNonFiniteLoss
from gpt_experiments.training.callbacks.progress import CompactModelSummary, RunProgressBar
from gpt_experiments.training.callbacks.provenance import RecordProvenance
from gpt_experiments.training.callbacks.resumed_epoch import ResumedEpochProgress
from gpt_experiments.training.callbacks.rng_state import RNGStateCheckpoint
from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal, TrainingInterrupted
from gpt_experiments.training.callbacks.throughput import SpeedMonitor
from gpt_experiments.training.callbacks.validate_at_end import ValidateAtLastStep
from gpt_experiments.training.config_checks import (
    architecture_values,
    check_sampler,
    model_settings,
    validate_config,
)
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
        FitClock(earlier_legs_s(cfg, output_dir)),
    ]
    hparams = HParamsSession(select_hparams(cfg, command_line), command_line.swept, setting_group_name(cfg))
    console = [hparams, LogEveryEpoch()]
    if cfg.trainer.get("enable_progress_bar", True):
        console.append(RunProgressBar())
    if cfg.trainer.get("enable_model_summary", True):
        console.append(CompactModelSummary())
    if cfg.get("compile"):
        console.append(CompileTimeReport())
    budget = [ValidateAtLastStep()] if cfg.get("max_tokens") or cfg.get("max_flops") else []
    records = [LossHistory(str(output_dir)), RecordProvenance(output_dir, bool(cfg.get("compile", False)))]
    return [*callbacks, *records, *budget, *reliability, *console]


def build_loggers(spec: DictConfig | None) -> list[Logger] | bool:
    """The run's trackers: one (``logger=tensorboard``), several (``logger=many``: a logger per
    key), or none (``logger=null``)."""
    if not spec:
        return False
    if "_target_" in spec:
        return [instantiate(spec)]
    return [instantiate(entry) for entry in spec.values() if entry is not None] or False


def earlier_legs_s(cfg: DictConfig, output_dir: Path) -> float:
    """A resumed run's time so far, for checkpoints that do not hold it: its last summary's."""
    recorded = recorded_wall_time(output_dir) if cfg.get("ckpt_path") else math.nan
    return 0.0 if math.isnan(recorded) else recorded


def apply_token_budget(trainer: L.Trainer, max_tokens: int, data: DictConfig) -> int:
    """Make ``trainer`` stop after ``max_tokens`` training tokens (all ranks together).

    Returns the number of optimizer steps that takes; the epoch limit is lifted.
    """
    tokens_per_step = data.batch_size * data.max_length * trainer.accumulate_grad_batches * trainer.world_size
    steps = math.ceil(max_tokens / tokens_per_step)
    internals.limit_steps(trainer, steps)
    return steps


def apply_flops_budget(trainer: L.Trainer, max_flops: float, flops_per_token: int, data: DictConfig) -> int:
    """Make ``trainer`` stop after ``max_flops`` training FLOPs: the token budget they buy at
    ``flops_per_token`` (model_flops.py's convention). Returns the optimizer steps that takes."""
    return apply_token_budget(trainer, math.ceil(max_flops / flops_per_token), data)


def find_callback(trainer: L.Trainer, kind: type[L.Callback], **attributes: Any) -> Any:
    matches = (cb for cb in trainer.callbacks if isinstance(cb, kind))
    return next((cb for cb in matches if all(getattr(cb, k) == v for k, v in attributes.items())), None)


def summarize_run(
    trainer: L.Trainer, module: GPTLitModule, output_dir: Path, wall_time_s: float, compare_dir: Path
) -> RunSummary:
    best = find_callback(trainer, ModelCheckpoint, monitor="val/loss")
    speed = find_callback(trainer, SpeedMonitor)
    history = find_callback(trainer, LossHistory)
    return RunSummary(
        run_dir=output_dir,
        best_checkpoint=Path(best.best_model_path) if best is not None and best.best_model_path else None,
        best_val_loss=float(module.best_val_loss),
        final_val_loss=history.rows[-1]["val_loss"] if history is not None and history.rows else math.nan,
        final_val_step=history.rows[-1]["step"] if history is not None and history.rows else -1,
        tokens_seen=int(module.tokens_seen),
        train_flops=float(module.train_flops),
        non_embedding_params=non_embedding_parameters(module.model),
        steps=trainer.global_step,
        max_steps=trainer.max_steps,
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
    The run's provenance.json is started first and says at the end how the run ended.
    """
    output_dir = Path(output_dir)
    rank_zero_only(record_start)(output_dir)
    outcome = "failed"
    try:
        best = fit_run(cfg, output_dir, command_line or CommandLine(), sweep_dir)
        outcome = "pruned" if pruned_message(output_dir) else "finished"
        return best
    except (TrainingInterrupted, KeyboardInterrupt):
        outcome = "interrupted"
        raise
    finally:
        rank_zero_only(record_end)(output_dir, outcome)


def apply_float32_matmul_precision(cfg: DictConfig) -> None:
    """torch's precision for fp32 matrix products, set in every process (each DDP rank runs
    :func:`fit_run`) before any product; saved configs from before the setting mean fp32."""
    torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))


def fit_run(
    cfg: DictConfig, output_dir: Path, command_line: CommandLine, sweep_dir: str | Path | None
) -> float:
    """The run itself: data, model, callbacks, trackers, Trainer, fit and the closing summary."""
    validate_config(cfg)
    check_run_settings(cfg)
    apply_float32_matmul_precision(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = GPTDataModule(**plain(cfg.data), tokenizer=plain(cfg.get("tokenizer")), seed=cfg.seed)
    tokenizer = datamodule.tokenizer  # a char tokenizer reads the corpus here
    model = model_settings(architecture_values(cfg.model), tokenizer)
    check_sampler(cfg, model["vocab_size"])
    module = GPTLitModule(
        model=model,
        tokenizer=tokenizer.to_dict(),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        compile_model=cfg.get("compile", False),
        sequence_length=cfg.data.max_length,
    )
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=build_loggers(cfg.get("logger")),
        callbacks=build_callbacks(cfg, output_dir, command_line),
        plugins=[AtomicCheckpointIO()],
    )
    if cfg.get("max_tokens"):
        steps = apply_token_budget(trainer, cfg.max_tokens, cfg.data)
        print(f"max_tokens={cfg.max_tokens:,}: training for {steps:,} optimizer steps")
    if cfg.get("max_flops"):
        steps = apply_flops_budget(trainer, cfg.max_flops, module.flops_per_token, cfg.data)
        print(
            f"max_flops={cfg.max_flops:.3g}: training for {steps:,} optimizer steps "
            f"({module.flops_per_token:,} FLOPs per token)"
        )
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        compare_dir = Path(sweep_dir) if sweep_dir is not None else output_dir
        wall_time_s = find_callback(trainer, FitClock).elapsed_s()  # every leg of a resumed run
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
