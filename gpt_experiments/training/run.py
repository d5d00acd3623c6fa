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
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.training.callbacks.history import LossHistory
from gpt_experiments.training.callbacks.loss_guard import StopOnNonFiniteLoss
from gpt_experiments.training.callbacks.rng_state import RNGStateCheckpoint
from gpt_experiments.training.callbacks.signals import SaveAndStopOnSignal
from gpt_experiments.training.checkpoint_io import AtomicCheckpointIO
from gpt_experiments.training.config_checks import validate_config
from gpt_experiments.training.lit_module import HPARAMS_METRICS, GPTLitModule
from gpt_experiments.training.run_checks import check_run_settings

# Lightning cannot tell that GPTDataModule restores the position in the epoch itself.
warnings.filterwarnings(
    "ignore", message="You're resuming from a checkpoint that ended before the epoch ended"
)

# Config groups whose values are the run's hyperparameters (shown in TensorBoard's HParams).
HPARAM_GROUPS = ("model", "data", "optimizer", "scheduler", "trainer")


def plain(node: Any) -> Any:
    """A resolved config node as plain Python containers (safe to pickle and to log)."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def run_hparams(cfg: DictConfig) -> dict[str, Any]:
    params = {group: plain(cfg[group]) for group in HPARAM_GROUPS if group in cfg}
    params["seed"] = cfg.seed
    return params


def build_callbacks(cfg: DictConfig, output_dir: Path) -> list[L.Callback]:
    callbacks = [instantiate(spec) for spec in (cfg.get("callbacks") or {}).values() if spec is not None]
    if cfg.get("init") is not None:
        callbacks.append(instantiate(cfg.init))  # loads pretrained weights when the fit starts
    # Always on: what exact resume and safe stops rely on, whatever the callbacks group says.
    reliability = [RNGStateCheckpoint(), StopOnNonFiniteLoss(), SaveAndStopOnSignal(output_dir)]
    return [*callbacks, LossHistory(str(output_dir)), *reliability]


def apply_token_budget(trainer: L.Trainer, max_tokens: int, data: DictConfig) -> int:
    """Make ``trainer`` stop after ``max_tokens`` training tokens (all ranks together).

    Returns the number of optimizer steps that takes; the epoch limit is lifted.
    """
    tokens_per_step = data.batch_size * data.max_length * trainer.accumulate_grad_batches * trainer.world_size
    steps = math.ceil(max_tokens / tokens_per_step)
    # Trainer has no setter for these; its loops read them at every step.
    trainer.fit_loop.epoch_loop.max_steps = steps
    trainer.fit_loop.max_epochs = -1
    return steps


def train(cfg: DictConfig, output_dir: str | Path) -> float:
    """Train as ``cfg`` says, writing everything under ``output_dir``; returns the best val loss."""
    output_dir = Path(output_dir)
    validate_config(cfg)
    check_run_settings(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = GPTDataModule(**plain(cfg.data), seed=cfg.seed)
    module = GPTLitModule(
        model=plain(cfg.model),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        compile_model=cfg.get("compile", False),
    )
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=build_callbacks(cfg, output_dir),
        plugins=[AtomicCheckpointIO()],
    )
    if cfg.get("max_tokens"):
        steps = apply_token_budget(trainer, cfg.max_tokens, cfg.data)
        print(f"max_tokens={cfg.max_tokens:,}: training for {steps:,} optimizer steps")
    if logger:
        # Declared once with placeholder values; the module logs the real ones each validation.
        logger.log_hyperparams(run_hparams(cfg), dict.fromkeys(HPARAMS_METRICS, math.nan))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        return float(module.best_val_loss)
    finally:
        # Sweeps run many jobs in one process: drop references so memory is returned.
        del trainer, module, datamodule
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
