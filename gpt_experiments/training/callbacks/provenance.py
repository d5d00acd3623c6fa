"""Completes the run's provenance record with what only the started fit knows, and hands the
record to every tracker of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import psutil
import torch
from lightning.pytorch.utilities import rank_zero_only

from gpt_experiments.run_folder.provenance import read_provenance, update_current_leg
from gpt_experiments.training.trackers import RunLogger


def accelerator_versions() -> dict[str, Any]:
    """CUDA (or ROCm), cuDNN and NCCL as this torch build uses them; None where absent."""
    cuda = torch.cuda.is_available()
    return {
        "cuda": torch.version.cuda,
        "hip": torch.version.hip,
        "cudnn": torch.backends.cudnn.version() if cuda and torch.backends.cudnn.is_available() else None,
        "nccl": ".".join(map(str, torch.cuda.nccl.version())) if cuda and torch.version.cuda else None,
    }


def devices() -> dict[str, Any]:
    """The GPUs' names and memory, and the host's memory."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = [torch.cuda.get_device_properties(index) for index in range(count)]
    return {
        "gpu_count": count,
        "gpus": [{"name": gpu.name, "memory_gib": round(gpu.total_memory / 2**30, 1)} for gpu in gpus],
        "mps": torch.backends.mps.is_available(),
        "host_memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def resolved_settings(trainer: L.Trainer, compile_model: bool) -> dict[str, Any]:
    """What the automatic settings became: ``precision: ${fastest_precision:}``, ``accelerator:
    auto``, ``fused: auto`` are resolved only once the trainer and optimizer exist."""
    optimizer = trainer.optimizers[0] if trainer.optimizers else None
    return {
        "precision": str(trainer.precision),
        "accelerator": type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
        "devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "strategy": type(trainer.strategy).__name__,
        "optimizer": type(optimizer).__name__ if optimizer is not None else None,
        "fused_optimizer": optimizer.defaults.get("fused") if optimizer is not None else None,
        "compile": compile_model,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


class RecordProvenance(L.Callback):
    """At the start of training (the optimizer built, the data read): the resolved settings, the
    data's digest, the CUDA stack and devices go into ``provenance.json``, and the whole record
    to each tracker (TensorBoard's Text tab, MLflow tags, W&B config, CSV hparams)."""

    def __init__(self, run_dir: str | Path, compile_model: bool) -> None:
        self.run_dir = Path(run_dir)
        self.compile_model = compile_model

    @rank_zero_only
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = getattr(trainer.datamodule, "windows", None)  # GPTDataModule's; none for plain loaders
        digest = data.content_digest() if data is not None else None
        update_current_leg(
            self.run_dir,
            settings=resolved_settings(trainer, self.compile_model),
            data={"source": getattr(data, "source", None), "content_digest": digest},
            accelerator_versions=accelerator_versions(),
            devices=devices(),
        )
        record = read_provenance(self.run_dir)
        if record is None:
            return
        for logger in trainer.loggers:
            if isinstance(logger, RunLogger):
                logger.log_provenance(record)
