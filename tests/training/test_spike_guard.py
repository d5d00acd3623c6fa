"""Loss-spike protection: an injected outlier batch leaves the weights untouched and is counted."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gpt_experiments.training.callbacks.spike_guard import MovingZScore, SkipSpikes
from tests.helpers import quiet_trainer

SPIKE_AT = 30  # batch index whose targets are scaled up 100x


class Regression(L.LightningModule):
    """A linear fit whose weights are recorded after every step."""

    def __init__(self) -> None:
        super().__init__()
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
        y[SPIKE_AT * 8 : (SPIKE_AT + 1) * 8] *= 100
        return DataLoader(TensorDataset(x, y), batch_size=8)


def fit(guard: SkipSpikes) -> tuple[Regression, L.Trainer]:
    module = Regression()
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
