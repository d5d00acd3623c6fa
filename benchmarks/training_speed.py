"""Training throughput and peak memory of one setup: the project under Lightning, the same
model in a plain PyTorch loop, or the chapter's algorithm (``chapter_baseline.py``).

Run each measurement in a fresh process (``scripts/benchmark.py`` does) so peak RSS is
that setup's alone.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from benchmarks.chapter_baseline import ChapterGPT, WindowDataset, train_steps
from benchmarks.measure import StepClock, minor_page_faults, peak_rss_mb, steady_tokens_per_sec
from benchmarks.plain_loop import plain_training_steps
from gpt_experiments.config import asset_path
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import gpt2_tokenizer
from gpt_experiments.training.callbacks.throughput import SpeedMonitor
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.optimizers import build_optimizer

VARIANTS = ("seed", "plain", "lightning")
TRAINER_DEFAULTS = Path(__file__).resolve().parents[1] / "conf" / "trainer" / "default.yaml"


@dataclass
class TrainSetup:
    """One benchmarked configuration. ``model`` holds :class:`GPTConfig` fields."""

    variant: str
    model: dict[str, Any]
    precision: str = "32-true"
    batch_size: int = 2
    warmup_steps: int = 2
    steps: int = 4
    lr: float = 4e-4
    weight_decay: float = 0.1
    fused: bool | str = "auto"
    corpus: str = field(default_factory=lambda: asset_path("tinyshakespeare.txt"))
    cache_dir: str | None = None
    seed: int = 123
    # A full optimizer spec (a conf/optimizer group's values) instead of AdamW with the fields above.
    optimizer: dict[str, Any] | None = None

    @property
    def context_length(self) -> int:
        return self.model["context_length"]

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context_length


def project_data(setup: TrainSetup) -> GPTDataModule:
    data = GPTDataModule(
        path=setup.corpus,
        max_length=setup.context_length,
        stride=setup.context_length,
        batch_size=setup.batch_size,
        eval_train_batches=0,
        cache_dir=setup.cache_dir,
    )
    data.setup("fit")
    return data


def optimizer_spec(setup: TrainSetup) -> dict[str, Any]:
    if setup.optimizer is not None:
        return setup.optimizer
    return {
        "_target_": "torch.optim.AdamW",
        "lr": setup.lr,
        "weight_decay": setup.weight_decay,
        "fused": setup.fused,
    }


def run_lightning(setup: TrainSetup) -> list[float]:
    """The project's path: GPTDataModule + GPTLitModule under a Trainer with the default settings."""
    data = project_data(setup)
    module = GPTLitModule(model=setup.model, optimizer=optimizer_spec(setup))
    clock = StepClock()
    settings = OmegaConf.to_container(OmegaConf.load(TRAINER_DEFAULTS))
    del settings["_target_"], settings["default_root_dir"]
    with tempfile.TemporaryDirectory() as logs:
        settings.update(
            precision=setup.precision,
            max_steps=setup.warmup_steps + setup.steps,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=L.pytorch.loggers.TensorBoardLogger(logs, name="benchmark"),
            callbacks=[clock, SpeedMonitor(log_every_n_steps=settings["log_every_n_steps"])],
        )
        L.Trainer(**settings).fit(module, train_dataloaders=data.train_dataloader())
    return clock.step_ends


def run_plain(setup: TrainSetup) -> list[float]:
    """The same model, data and optimizer in a hand-written loop."""
    data = project_data(setup)
    model = GPT(GPTConfig(**setup.model))
    optimizer = build_optimizer(model, optimizer_spec(setup))
    steps = plain_training_steps(model, data.train_dataloader(), optimizer, precision=setup.precision)
    step_ends = []
    for loss in islice(steps, setup.warmup_steps + setup.steps):
        loss.item()  # as Lightning's logging does
        step_ends.append(time.perf_counter())
    return step_ends


def run_seed(setup: TrainSetup) -> list[float]:
    """The chapter's algorithm (``chapter_baseline.py``): a tensor per window, its GPT, plain AdamW."""
    if setup.precision != "32-true":
        raise ValueError("the chapter's loop trains in fp32 only")
    text = Path(setup.corpus).read_text(encoding="utf-8")
    train_ids = gpt2_tokenizer().encode(text[: int(0.9 * len(text))])
    dataset = WindowDataset(train_ids, setup.context_length, stride=setup.context_length)
    loader = DataLoader(dataset, batch_size=setup.batch_size, shuffle=True, drop_last=True)
    model = ChapterGPT(GPTConfig(**setup.model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
    step_ends = []
    for _ in islice(train_steps(model, loader, optimizer), setup.warmup_steps + setup.steps):
        step_ends.append(time.perf_counter())
    return step_ends


RUNNERS = {"seed": run_seed, "plain": run_plain, "lightning": run_lightning}


def measure_training(setup: TrainSetup) -> dict[str, Any]:
    """Steady-state tokens/s, peak RSS and page faults of ``setup``, trained from scratch in this
    process (faults counted over the whole process: data, model and every step)."""
    L.seed_everything(setup.seed, verbose=False)
    step_ends = RUNNERS[setup.variant](setup)
    return {
        "variant": setup.variant,
        "precision": setup.precision,
        "tokens_per_sec": steady_tokens_per_sec(step_ends, setup.warmup_steps, setup.tokens_per_step),
        "peak_rss_mb": peak_rss_mb(),
        "minor_page_faults": minor_page_faults(),
    }
