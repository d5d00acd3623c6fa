"""Throughput reporting and the token budget."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.model_flops import training_flops_per_token
from gpt_experiments.training.callbacks.throughput import SpeedMonitor
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.run import apply_flops_budget, apply_token_budget
from tests.helpers import quiet_trainer

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)


def test_speed_monitor_logs_tokens_per_second_mfu_and_memory():
    torch.manual_seed(0)
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    tokens = np.random.default_rng(0).integers(0, 101, 200).astype(np.uint16)
    loader = DataLoader(TokenWindows(tokens, max_length=8, stride=8), batch_size=4)
    trainer = quiet_trainer(
        max_steps=4,
        accumulate_grad_batches=2,
        callbacks=[SpeedMonitor(log_every_n_steps=2, peak_flops_per_sec=1e9)],
    )
    trainer.fit(module, train_dataloaders=loader)
    metrics = trainer.callback_metrics
    assert metrics["perf/tokens_per_sec"] > 0 and metrics["perf/peak_memory_mb"] > 10
    expected_mfu = metrics["perf/tokens_per_sec"] * training_flops_per_token(module.model) / 1e9
    assert metrics["perf/mfu"] == pytest.approx(float(expected_mfu), rel=1e-4)
    # 4 steps of 2 accumulated batches of 4 windows of 8 tokens: 256 tokens, each costing the same.
    assert float(metrics["perf/train_flops"]) == 256 * training_flops_per_token(module.model)


def test_summary_counts_every_trained_token_across_validations():
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    tokens = np.random.default_rng(0).integers(0, 101, 200).astype(np.uint16)
    loader = DataLoader(TokenWindows(tokens, max_length=8, stride=8), batch_size=4)  # 6 batches
    monitor = SpeedMonitor(log_every_n_steps=4)  # windows cut by each epoch-end validation
    trainer = quiet_trainer(max_epochs=2, callbacks=[monitor], num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    assert monitor.measured_tokens == 2 * 6 * 4 * 8


def test_max_tokens_becomes_max_steps(compose_train):
    cfg = compose_train(
        "model=tiny", "data.batch_size=4", "trainer.accumulate_grad_batches=2", "max_tokens=2561"
    )
    trainer = instantiate(cfg.trainer, logger=False)
    steps = apply_token_budget(trainer, cfg.max_tokens, cfg.data)
    assert steps == 11  # ceil(2561 / (4 windows x 32 tokens x 2 accumulated x 1 device))
    assert trainer.max_steps == 11 and trainer.max_epochs == -1


def test_max_flops_buys_the_tokens_its_flops_per_token_allow(compose_train):
    cfg = compose_train("model=tiny", "data.batch_size=4", "max_flops=1e9")
    trainer = instantiate(cfg.trainer, logger=False)
    steps = apply_flops_budget(trainer, cfg.max_flops, 100_000, cfg.data)
    assert steps == 79  # 1e9 / 1e5 = 10,000 tokens; ceil(10,000 / (4 windows x 32 tokens))
    assert trainer.max_steps == 79 and trainer.max_epochs == -1
