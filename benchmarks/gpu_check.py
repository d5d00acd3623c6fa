"""One-command GPU check: gpt2_small at context 1024, torch.compile, bf16, FSDP2; prints JSON.

    python benchmarks/gpu_check.py                 # all GPUs of this machine
    python benchmarks/gpu_check.py --devices 1 --steps 40

Trains through scripts/train.py as a user would (trainer=fsdp2, compile=true,
bf16-mixed, tiny Shakespeare) and reports the last measured window: tokens/s, MFU against
the datasheet peak (gpt_experiments/training/peak_flops.py), peak memory, and the loss,
which must have fallen. ``--smoke`` runs the same path on the CPU with a tiny model, to
check the script itself where there is no GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
GPU_RUN = [
    "model=gpt2_small",
    "model.context_length=1024",
    "data=tinyshakespeare",
    "data.batch_size=8",
    "trainer=fsdp2",
    "trainer.precision=bf16-mixed",
    "compile=true",
]
SMOKE_RUN = [
    "model=tiny",
    "model.context_length=64",
    "data=verdict",
    "trainer=fsdp2",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    "callbacks.speed_monitor.peak_flops_per_sec=1e12",  # a CPU has no datasheet entry
]


class Report(L.Callback):
    """Writes the run's last speed figures and losses to a JSON file (rank 0)."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].item())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        device = pl_module.device
        report = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            "devices": trainer.world_size,
            "torch": torch.__version__,
            "strategy": type(trainer.strategy).__name__,
            "precision": str(trainer.precision),
            "steps": trainer.global_step,
            "tokens_per_sec": float(metrics["perf/tokens_per_sec"]),
            "mfu": float(metrics["perf/mfu"]) if "perf/mfu" in metrics else None,
            "peak_memory_mb": float(metrics["perf/peak_memory_mb"]),
            "first_loss": self.losses[0],
            "last_loss": self.losses[-1],
        }
        self.out.write_text(json.dumps(report))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps (the first compile)")
    parser.add_argument("--devices", default="auto", help="GPUs to use (auto: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU, to test this script")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        command = [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            *(SMOKE_RUN if args.smoke else GPU_RUN),
            f"trainer.devices={args.devices}",
            f"trainer.max_steps={args.steps}",
            "trainer.log_every_n_steps=10",
            "trainer.limit_val_batches=0",
            "trainer.num_sanity_val_steps=0",
            "trainer.enable_progress_bar=false",
            "callbacks.text_samples=null",
            "~logger",
            "+callbacks.gpu_report._target_=benchmarks.gpu_check.Report",
            f"+callbacks.gpu_report.out={out}",
            f"hydra.run.dir={Path(scratch) / 'run'}",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(command, cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    report["loss_fell"] = math.isfinite(report["last_loss"]) and report["last_loss"] < report["first_loss"]
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
