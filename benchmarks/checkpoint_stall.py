"""How long training stops for each sharded checkpoint save, synchronous vs asynchronous.

    python benchmarks/checkpoint_stall.py                       # 2 CPU processes (gloo)
    python benchmarks/checkpoint_stall.py --accelerator gpu --devices 8 --model gpt2_small

Trains the same FSDP2 run twice (``trainer.strategy.checkpoint=sharded``, ``async_save``
false then true), saving ``last.ckpt`` every ``--every`` steps, and times the gap between
the end of one training step and the start of the next: at a save step it holds the save
(Lightning runs checkpoint callbacks last), elsewhere only the loop's bookkeeping. The
stall per save is the mean gap at save steps minus the median gap at the others. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

from gpt_experiments.cli.arguments import CommandParser, first_paragraph

ROOT = Path(__file__).resolve().parents[1]


class StepGaps(L.Callback):
    """Records, per step, the seconds from the end of the step to the start of the next (rank 0)."""

    def __init__(self, out: str, every: int) -> None:
        self.out = Path(out)
        self.every = every
        self.ended_at: float | None = None
        self.gaps: dict[str, list[float]] = {"save": [], "other": []}
        self.saved = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ended_at = time.perf_counter()
        self.saved = trainer.global_step % self.every == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.ended_at is not None:
            self.gaps["save" if self.saved else "other"].append(time.perf_counter() - self.ended_at)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.out.write_text(json.dumps(self.gaps))


def stall_per_save(gaps: dict[str, list[float]]) -> float:
    return statistics.mean(gaps["save"]) - statistics.median(gaps["other"])


def run(async_save: bool, args: argparse.Namespace, scratch: Path) -> dict:
    out = scratch / f"gaps_{async_save}.json"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        f"model={args.model}",
        *args.model_overrides,
        "model.context_length=64",
        "trainer=fsdp2",
        "trainer.precision=32-true",
        f"trainer.accelerator={args.accelerator}",
        f"trainer.devices={args.devices}",
        "trainer.strategy.checkpoint=sharded",
        f"trainer.strategy.async_save={str(async_save).lower()}",
        f"trainer.max_steps={args.steps}",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "callbacks.model_checkpoint=null",
        "callbacks.text_samples=null",
        f"callbacks.last_checkpoint.every_n_train_steps={args.every}",
        "~logger",
        "+callbacks.step_gaps._target_=benchmarks.checkpoint_stall.StepGaps",
        f"+callbacks.step_gaps.out={out}",
        f"+callbacks.step_gaps.every={args.every}",
        f"hydra.run.dir={scratch / f'run_{async_save}'}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GPT_EXPERIMENTS_CACHE": str(scratch / "cache")}
    subprocess.run(command, cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
    gaps = json.loads(out.read_text())
    checkpoint = scratch / f"run_{async_save}" / "checkpoints" / "last.ckpt"
    size = sum(f.stat().st_size for f in checkpoint.iterdir())
    return {"saves": len(gaps["save"]), "stall_s": stall_per_save(gaps), "checkpoint_mb": size / 2**20}


def main(argv: list[str] | None = None) -> dict:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument("--model", default="tiny")
    # A ~38M-parameter GPT by default: big enough for the write to take a while.
    parser.add_argument(
        "--model-overrides", nargs="*", default=["model.emb_dim=512", "model.n_heads=8", "model.n_layers=4"]
    )
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--devices", default="2")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        report = {mode: run(mode == "async", args, Path(scratch)) for mode in ("sync", "async")}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
