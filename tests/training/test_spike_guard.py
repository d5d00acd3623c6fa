"""Loss-spike protection: an injected outlier batch leaves the weights untouched and is counted;
a shift that lasts cannot freeze the run."""

from __future__ import annotations

import re

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.training.callbacks.spike_guard import FrozenBySpikesError, MovingZScore, SkipSpikes
from tests.helpers import TINY_RUN, quiet_trainer, run_script

SPIKE_AT = 30  # batch index whose targets are scaled up 100x


class Regression(L.LightningModule):
    """A linear fit whose weights are recorded after every step."""

    def __init__(self, shift: float = 1.0) -> None:
        """``shift``: the targets of every batch from SPIKE_AT on are multiplied by it (1: only
        batch SPIKE_AT, by 100)."""
        super().__init__()
        self.shift = shift
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 1)
        self.weights: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.linear(x), y)

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.weights.append(self.linear.weight.detach().clone())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(40 * 8, 4, generator=generator)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(
            40 * 8, 1, generator=generator
        )
        if self.shift == 1.0:
            y[SPIKE_AT * 8 : (SPIKE_AT + 1) * 8] *= 100
        else:
            y[SPIKE_AT * 8 :] *= self.shift
        return DataLoader(TensorDataset(x, y), batch_size=8)


def fit(guard: SkipSpikes, shift: float = 1.0) -> tuple[Regression, L.Trainer]:
    module = Regression(shift)
    trainer = quiet_trainer(max_epochs=1, callbacks=[guard], accelerator="cpu")
    trainer.fit(module)
    return module, trainer


@pytest.mark.parametrize("watch", [["loss"], ["grad_norm"], ["loss", "grad_norm"]])
def test_the_update_of_an_injected_spike_is_skipped_and_counted(watch):
    guard = SkipSpikes(enabled=True, z_threshold=6.0, window=20, min_history=10, watch=watch)
    with pytest.warns(UserWarning, match=f"step {SPIKE_AT}: skipped the update"):
        module, trainer = fit(guard)
    assert guard.skipped == 1 and trainer.callback_metrics["train/skipped_updates"] == 1
    assert torch.equal(module.weights[SPIKE_AT], module.weights[SPIKE_AT - 1])  # no update at the spike
    assert not torch.equal(module.weights[SPIKE_AT + 1], module.weights[SPIKE_AT])  # and training goes on


def test_off_by_default_the_spike_moves_the_weights():
    guard = SkipSpikes()
    module, _ = fit(guard)
    assert guard.skipped == 0
    jump = (module.weights[SPIKE_AT] - module.weights[SPIKE_AT - 1]).norm()
    usual = (module.weights[SPIKE_AT - 1] - module.weights[SPIKE_AT - 2]).norm()
    assert jump > 50 * usual


def test_z_score_against_the_window():
    history = MovingZScore(window=4)
    history.values.extend([1.0, 2.0, 3.0, 4.0, 5.0])  # the window keeps 2, 3, 4, 5: mean 3.5, std 1.118
    assert history.z(7.0) == pytest.approx(3.5 / 1.118034, rel=1e-5)
    assert history.z(float("nan")) == float("inf")


def test_watching_an_unknown_quantity_is_refused():
    with pytest.raises(ValueError, match="watch"):
        SkipSpikes(watch=["lr"])


def test_a_lasting_shift_is_applied_after_the_cap_of_skips_in_a_row_and_the_window_restarts():
    guard = SkipSpikes(enabled=True, window=20, min_history=5, watch=["loss"], max_consecutive_skips=3)
    with pytest.warns(UserWarning, match=f"step {SPIKE_AT + 3}: applied the update after 3 skipped in a row"):
        module, _ = fit(guard, shift=100.0)
    assert guard.skipped == 3  # then 5 accepted steps rebuild the window, at the new level
    assert torch.equal(module.weights[SPIKE_AT + 2], module.weights[SPIKE_AT - 1])
    assert not torch.equal(module.weights[SPIKE_AT + 3], module.weights[SPIKE_AT + 2])


def test_a_non_finite_step_at_the_cap_stops_the_run_instead_of_being_applied():
    guard = SkipSpikes(enabled=True, window=20, min_history=5, watch=["loss"], max_consecutive_skips=3)
    with pytest.raises(FrozenBySpikesError, match=f"step {SPIKE_AT + 3}: the spike guard skipped 3 updates"):
        fit(guard, shift=float("inf"))


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="max_consecutive_skips=0"):
        SkipSpikes(max_consecutive_skips=0)


def longest_run(steps: list[int]) -> int:
    """The length of the longest run of consecutive numbers in ``steps`` (sorted)."""
    longest = current = 0
    for previous, step in zip([None, *steps], steps, strict=False):
        current = current + 1 if previous is not None and step == previous + 1 else 1
        longest = max(longest, current)
    return longest


@pytest.mark.slow
def test_a_tiny_model_at_a_high_learning_rate_is_not_frozen_by_the_guard(tmp_path):
    """Seen by a user: lr 3e-3, batch 8, a short window. Once the weights move the gradient
    norm above the window, every later batch is skipped at those same weights (without a cap:
    the last 24 steps of this 40-step run). With the default cap, at most 10 in a row."""
    result = run_script(
        "train.py",
        *TINY_RUN,
        "trainer.max_epochs=100",
        "trainer.max_steps=40",
        "optimizer.lr=3e-3",
        "data.batch_size=8",
        "callbacks.spike_guard.enabled=true",
        "callbacks.spike_guard.window=10",
        "callbacks.spike_guard.min_history=5",
        "callbacks.spike_guard.z_threshold=3",
        "callbacks.text_samples=null",
        "trainer.check_val_every_n_epoch=100",
        "trainer.limit_val_batches=1",
        "data.eval_train_batches=0",
        "~logger",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    skipped = [int(step) for step in re.findall(r"step (\d+): skipped the update", result.stderr)]
    assert skipped, result.stderr[-3000:]  # the scenario does reach the guard
    assert longest_run(skipped) <= 10
    assert "applied the update after 10 skipped in a row" in result.stderr
