"""One-command GPU check (`make gpu-check`): does the GPU path work, and how fast is it? Prints
one JSON and writes it to --out.

    python benchmarks/gpu_check.py                       # GPT-2 small, context 1024, bf16, cuda
    python benchmarks/gpu_check.py --device cpu --tiny   # every part on the CPU, tiny model (tests)

In one process, on one batch of tiny Shakespeare:

- ``loss``: the first batch's loss of the same weights eager, compiled (both bf16-mixed on the
  device) and in fp32 on the CPU (the reference), and whether they agree within bf16's tolerance;
- ``train``: eager and compiled training step times (fused AdamW, bf16 autocast), tokens/s,
  the model's FLOPs per token, MFU against the device's dense bf16 datasheet peak
  (gpt_experiments/training/peak_flops.py), peak memory, and the compile time;
- ``generate``: greedy KV-cache generation tokens/s (batch 1);
- ``train_script`` (unless --skip-train-script): scripts/train.py as a user runs it (FSDP2,
  compile=true, bf16-mixed) for --script-steps steps, with its logged speed and whether the
  loss fell.

On one H100 the whole check should take a few minutes; it has not yet run on a GPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import repeat
from pathlib import Path
from typing import Any

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: benchmarks/ sits outside the installed package

from benchmarks.measure import timed_step  # noqa: E402
from benchmarks.plain_loop import plain_training_steps  # noqa: E402
from benchmarks.training_speed import TrainSetup, optimizer_spec, project_data  # noqa: E402
from gpt_experiments.cli.arguments import CommandParser, first_paragraph  # noqa: E402
from gpt_experiments.inference.sampling import SamplerConfig, generate  # noqa: E402
from gpt_experiments.model import GPT, GPTConfig  # noqa: E402
from gpt_experiments.model_flops import training_flops_per_token  # noqa: E402
from gpt_experiments.training.callbacks.throughput import peak_memory_mb  # noqa: E402
from gpt_experiments.training.optimizers import build_optimizer  # noqa: E402
from gpt_experiments.training.peak_flops import datasheet_peak_flops  # noqa: E402

GPT2_SMALL = dict(vocab_size=50257, context_length=1024, emb_dim=768, n_heads=12, n_layers=12)
TINY = dict(vocab_size=50257, context_length=64, emb_dim=24, n_heads=3, n_layers=2)
# bf16 keeps 8 bits of mantissa: a loss near ln(50257) = 10.8 agrees with fp32 to a few 1e-2.
LOSS_TOLERANCE = 0.05
SCRIPT_RUN = [
    "model=gpt2_small",
    "model.context_length=1024",
    "data=tinyshakespeare",
    "data.batch_size=8",
    "trainer=fsdp2",
    "trainer.precision=bf16-mixed",
    "compile=true",
]
TINY_SCRIPT_RUN = [
    "model=tiny",
    "model.context_length=64",
    "data=verdict",
    "trainer=fsdp2",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    "callbacks.speed_monitor.peak_flops_per_sec=1e12",  # a CPU has no datasheet entry
]


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def model_flops_utilization(
    tokens_per_sec: float, flops_per_token: int, peak_flops: float | None
) -> float | None:
    """Achieved model FLOP/s over the device's dense peak; None when the peak is unknown."""
    return tokens_per_sec * flops_per_token / peak_flops if peak_flops else None


def loss_agreement(losses: dict[str, float], reference: str, tolerance: float) -> dict[str, Any]:
    """Each loss's difference from ``reference``'s and whether all lie within ``tolerance``."""
    differences = {name: loss - losses[reference] for name, loss in losses.items() if name != reference}
    return {
        "losses": losses,
        "difference_from_" + reference: differences,
        "tolerance": tolerance,
        "agree": all(math.isfinite(d) and abs(d) <= tolerance for d in differences.values()),
    }


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def batch_loss(model: GPT, batch: tuple[torch.Tensor, torch.Tensor], bf16: bool) -> float:
    """The loss of ``batch`` (moved to the model's device), bf16-mixed or in the model's dtype."""
    device = model.lm_head.weight.device
    inputs, targets = (t.to(device) for t in batch)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        return model(inputs, targets=targets).item()


def time_training(
    model: GPT, batch: tuple, device: torch.device, warmup: int, steps: int
) -> dict[str, float]:
    """The first step's seconds (compiling, when compiled), the median of ``steps`` after
    ``warmup`` steps, and the peak memory; bf16-mixed, fused AdamW, ``batch`` every step.
    The peak includes the other model's weights (both stay loaded): about 0.5 GB for GPT-2 small."""
    optimizer = build_optimizer(model, optimizer_spec(TrainSetup(variant="plain", model={})))
    reset_peak_memory(device)
    loop = plain_training_steps(model, repeat(batch), optimizer, precision="bf16-mixed")
    seconds = [timed_step(loop)[0] for _ in range(warmup + steps)]
    return {
        "first_step_s": seconds[0],
        "step_s": statistics.median(seconds[warmup:]),
        "peak_memory_mb": peak_memory_mb(device),
    }


def training_speed(
    timing: dict[str, float], tokens_per_step: int, flops: int, peak_flops: float | None
) -> dict[str, Any]:
    tokens_per_sec = tokens_per_step / timing["step_s"]
    return {
        **timing,
        "compile_s": timing["first_step_s"] - timing["step_s"],
        "tokens_per_sec": tokens_per_sec,
        "mfu": model_flops_utilization(tokens_per_sec, flops, peak_flops),
    }


def generation_speed(model: GPT, new_tokens: int) -> dict[str, float]:
    """Greedy batch-1 KV-cache generation from a 16-token prompt, after one untimed warmup run."""
    sampler = SamplerConfig(max_new_tokens=new_tokens)
    prompt = [list(range(16))]
    with torch.autocast(model.lm_head.weight.device.type, dtype=torch.bfloat16):
        generate(model, prompt, sampler)
        started = time.perf_counter()
        generate(model, prompt, sampler)  # returns token lists: the device has finished
        seconds = time.perf_counter() - started
    return {"new_tokens": new_tokens, "tokens_per_sec": new_tokens / seconds}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    config = GPTConfig(**(TINY if args.tiny else GPT2_SMALL), drop_rate=0.0)
    setup = TrainSetup(variant="plain", model=config.to_dict(), batch_size=args.batch_size)
    batch = next(iter(project_data(setup).train_dataloader()))
    L.seed_everything(123, verbose=False)
    model = GPT(config)
    peak = args.peak_flops or datasheet_peak_flops(device_name(device), torch.bfloat16)
    flops = training_flops_per_token(model)
    reference = batch_loss(model, batch, bf16=False)  # before any step: fp32 on the CPU
    eager = model.to(device)
    compiled = copy.deepcopy(eager)  # the same weights (tied ones stay tied), trained separately
    compiled.compile()
    losses = {
        "cpu_fp32": reference,
        "eager_bf16": batch_loss(eager, batch, bf16=True),
        "compiled_bf16": batch_loss(compiled, batch, bf16=True),
    }
    batch_on_device = tuple(t.to(device) for t in batch)
    tokens_per_step = args.batch_size * config.context_length
    timings = {
        name: time_training(m, batch_on_device, device, args.warmup, args.steps)
        for name, m in (("eager", eager), ("compiled", compiled))
    }
    return {
        "device": device_name(device),
        "torch": torch.__version__,
        "model": config.to_dict(),
        "batch_size": args.batch_size,
        "flops_per_token": flops,
        "peak_bf16_flops": peak,
        "loss": loss_agreement(losses, "cpu_fp32", LOSS_TOLERANCE),
        "train": {name: training_speed(t, tokens_per_step, flops, peak) for name, t in timings.items()},
        "compiled_speedup": timings["eager"]["step_s"] / timings["compiled"]["step_s"],
        "generate": generation_speed(eager, args.new_tokens),
    }


class ScriptReport(L.Callback):
    """Writes the script run's speed figures and first and last losses to a JSON file (rank 0)."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].item())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        report = {
            "devices": trainer.world_size,
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


def run_train_script(args: argparse.Namespace) -> dict[str, Any]:
    """scripts/train.py as a user runs it, with :class:`ScriptReport` added; its JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        command = [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            *(TINY_SCRIPT_RUN if args.tiny else SCRIPT_RUN),
            f"trainer.devices={args.script_devices}",
            f"trainer.max_steps={args.script_steps}",
            "trainer.log_every_n_steps=10",
            "trainer.limit_val_batches=0",
            "trainer.num_sanity_val_steps=0",
            "trainer.enable_progress_bar=false",
            "callbacks.text_samples=null",
            "~logger",
            "+callbacks.gpu_report._target_=benchmarks.gpu_check.ScriptReport",
            f"+callbacks.gpu_report.out={out}",
            f"hydra.run.dir={Path(scratch) / 'run'}",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(command, cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    report["loss_fell"] = math.isfinite(report["last_loss"]) and report["last_loss"] < report["first_loss"]
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, ... or cpu")
    parser.add_argument("--tiny", action="store_true", help="a tiny model at context 64: checks the script")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps after the first")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps, eager and compiled")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens generated in the timed run")
    parser.add_argument(
        "--peak-flops", type=float, default=None, help="dense bf16 FLOP/s (default: datasheet)"
    )
    parser.add_argument(
        "--skip-train-script", action="store_true", help="measure only, no scripts/train.py run"
    )
    parser.add_argument("--script-steps", type=int, default=40, help="scripts/train.py's optimizer steps")
    parser.add_argument("--script-devices", default="auto", help="GPUs scripts/train.py uses (auto: all)")
    parser.add_argument("--out", default="gpu_check.json", help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    report = measure(args)
    if not args.skip_train_script:
        report["train_script"] = run_train_script(args)
    report["wall_s"] = time.perf_counter() - started
    text = json.dumps(report, indent=2)
    Path(args.out).write_text(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
