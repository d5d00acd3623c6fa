"""What a run reports: a training curve in every epoch, one throughput everywhere, the closing summary."""

from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.runs.records import scalar_events, tokens_per_sec
from gpt_experiments.training.callbacks.log_interval import LogEveryEpoch, epoch_logging_interval
from gpt_experiments.training.callbacks.progress import RunProgressBar, remaining_seconds
from gpt_experiments.training.callbacks.tensorboard import RunTensorBoardLogger
from gpt_experiments.training.callbacks.throughput import SpeedMonitor
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.summary import RunSummary, format_summary
from tests.helpers import ROOT, quiet_trainer

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=1, drop_rate=0.0)
VALIDATION_PAUSE_S = 0.4


class SlowValidation(L.Callback):
    """Makes every validation take a known extra time, which the throughput must leave out."""

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        time.sleep(VALIDATION_PAUSE_S)


def fit_four_step_epochs(log_dir: Path, *callbacks: L.Callback) -> tuple[L.Trainer, float]:
    """Two epochs of 4 steps each with log_every_n_steps=10 (the debug=limit case); returns the wall time."""
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    tokens = np.random.default_rng(0).integers(0, 101, 4 * 4 * 8 + 1).astype(np.uint16)
    loader = DataLoader(TokenWindows(tokens, max_length=8, stride=8), batch_size=4)  # 4 batches
    trainer = quiet_trainer(
        max_epochs=2,
        log_every_n_steps=10,
        num_sanity_val_steps=0,
        logger=RunTensorBoardLogger(str(log_dir), name="", version=""),
        callbacks=list(callbacks),
    )
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    return trainer, time.perf_counter() - started


def test_logging_interval_shrinks_to_an_epoch():
    assert epoch_logging_interval(10, 4, 1) == 4
    assert epoch_logging_interval(10, 7, 2) == 4  # optimizer steps: ceil(7 / 2)
    assert epoch_logging_interval(10, 50, 1) == 10
    assert epoch_logging_interval(10, math.inf, 1) == 10  # an iterable without a length


def test_a_four_step_epoch_logs_its_training_curve(tmp_path):
    fit_four_step_epochs(tmp_path / "plain")
    assert "train/loss" not in scalar_events(tmp_path / "plain")  # Lightning alone: nothing

    fit_four_step_epochs(tmp_path / "run", LogEveryEpoch(), SpeedMonitor())
    scalars = scalar_events(tmp_path / "run")
    for tag in ("train/loss", "train/lr", "perf/tokens_per_sec"):
        assert [event.step for event in scalars[tag]] == [4, 8], tag  # after each epoch's last step
    assert "epoch" not in scalars


def test_one_throughput_in_bar_tensorboard_summary_and_compare(tmp_path):
    monitor = SpeedMonitor()
    trainer, wall_s = fit_four_step_epochs(tmp_path, LogEveryEpoch(), monitor, SlowValidation())
    final = monitor.tokens_per_sec
    assert monitor.measured_tokens == 2 * 4 * 4 * 8
    # Training time only: the two slowed validations are outside it.
    assert monitor.training_time_s < wall_s - 2 * VALIDATION_PAUSE_S
    assert final == pytest.approx(monitor.measured_tokens / monitor.training_time_s)

    assert float(trainer.progress_bar_metrics["tokens/s"]) == pytest.approx(final, rel=0.05)
    scalars = scalar_events(tmp_path)
    assert scalars["run/tokens_per_sec"][-1].value == pytest.approx(final, rel=1e-6)  # TensorBoard, HParams
    assert tokens_per_sec(scalars) == pytest.approx(final, rel=1e-6)  # what compare_runs reads
    summary = RunSummary(tmp_path, None, math.nan, monitor.measured_tokens, wall_s, final, tmp_path)
    assert f"{final:,.0f} tokens/s training" in format_summary(summary)


def test_summary_names_the_best_checkpoint_and_commands_that_parse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "outputs" / "multirun" / "2026-12-01" / "15-00-00_000001" / "3_drop_rate-0.1+lr-0.003"
    best = run / "checkpoints" / "best-step000008-val4.500.ckpt"
    summary = RunSummary(run, best, 4.5, 4096, 12.34, 1234.4, run.parent)
    text = format_summary(summary)
    rel_run = run.relative_to(tmp_path)
    tensorboard, compare = Path(sys.executable).parent / "tensorboard", ROOT / "scripts" / "compare_runs.py"
    assert text.splitlines() == [
        f"Run folder:       {rel_run}",
        f"Best checkpoint:  {best.relative_to(tmp_path)} (val loss 4.5000, perplexity {math.exp(4.5):,.2f})",
        "Trained on:       4,096 tokens in 12.3 s, 1,234 tokens/s training",
        f"TensorBoard:      {shlex.join([str(tensorboard), '--logdir', str(run.parent)])}",
        f"Compare runs:     {shlex.join([sys.executable, str(compare), str(run.parent)])}",
        text.splitlines()[-1],
    ]
    # The generate command, as the shell splits it and Hydra parses it, names the checkpoint:
    # absolute paths, so it works pasted anywhere.
    args = shlex.split(text.splitlines()[-1].split(":", 1)[1])
    assert args[:2] == [sys.executable, str(ROOT / "scripts" / "generate.py")]
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(args[2:])}
    assert parsed == {"ckpt": str(best), "prompt": "Every effort moves you"}


def test_progress_bar_counts_epochs_from_one_and_estimates_the_whole_run():
    bar = RunProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=4)
    assert bar._get_train_description(0).strip() == "Epoch 1/4"
    assert remaining_seconds(elapsed_s=10.0, steps_done=2, steps_total=10) == pytest.approx(40.0)
    assert math.isnan(remaining_seconds(elapsed_s=1.0, steps_done=0, steps_total=10))
    assert math.isnan(remaining_seconds(elapsed_s=1.0, steps_done=3, steps_total=math.inf))
