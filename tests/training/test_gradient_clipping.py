"""trainer.gradient_clip_val works with the fused AdamW (the CPU/GPU default) in every precision,
and the optimizer then steps with gradients no larger than the limit."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.optimizers import clip_gradients
from tests.helpers import TINY_RUN, quiet_trainer, run_script

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)
# On CPU Lightning runs 16-mixed as bf16-mixed: its loss-scaler path is tested directly below.
PRECISIONS = ["32-true", "bf16-mixed", "16-mixed"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", PRECISIONS)
def test_training_with_clipping_and_the_fused_optimizer_runs_in_every_precision(tmp_path, precision):
    result = run_script(
        "train.py",
        *TINY_RUN,
        f"trainer.precision={precision}",
        "trainer.gradient_clip_val=1.0",
        "optimizer.fused=true",
        "trainer.max_steps=3",
        "trainer.limit_val_batches=1",
        "data.eval_train_batches=0",
        "~logger",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


class StepGradNorms(L.Callback):
    """The global gradient norm the optimizer stepped with (after clipping), per step."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After the step: Lightning computes the gradients in a closure the step itself calls.
        trainer.optimizers[0].register_step_post_hook(self.record)

    def record(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(float(torch.nn.utils.get_total_norm(grads)))


def step_grad_norms(precision: str, clip: float | None) -> list[float]:
    torch.manual_seed(0)
    optimizer = {"_target_": "torch.optim.AdamW", "lr": 1e-3, "fused": True}
    module = GPTLitModule(model=TINY, optimizer=optimizer)
    tokens = np.random.default_rng(0).integers(0, 101, 200).astype(np.uint16)
    loader = DataLoader(TokenWindows(tokens, max_length=8, stride=8), batch_size=4)
    norms = StepGradNorms()
    trainer = quiet_trainer(
        max_steps=4, precision=precision, gradient_clip_val=clip, callbacks=[norms], accelerator="cpu"
    )
    trainer.fit(module, train_dataloaders=loader)
    return norms.norms


@pytest.mark.parametrize("precision", PRECISIONS)
def test_the_optimizer_steps_with_gradients_clipped_to_the_limit(precision):
    limit = 0.05
    unclipped = step_grad_norms(precision, clip=None)
    clipped = step_grad_norms(precision, clip=limit)
    assert min(unclipped) > 10 * limit
    assert len(clipped) == 4 and max(clipped) <= limit * (1 + 1e-3)


def test_with_a_loss_scaler_the_fused_step_equals_an_unfused_step_on_clipped_true_gradients():
    """16-mixed: the gradients are unscaled before clipping, and the fused step then does not
    divide by the scale a second time."""
    torch.manual_seed(0)
    fused_model, plain_model = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    plain_model.load_state_dict(fused_model.state_dict())
    fused = torch.optim.AdamW(fused_model.parameters(), lr=0.1, fused=True)
    plain = torch.optim.AdamW(plain_model.parameters(), lr=0.1, foreach=False)
    inputs = torch.randn(16, 8)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)

    scaler.scale(fused_model(inputs).square().sum()).backward()
    clip_gradients(fused, 0.05, "norm", scaler)
    grads = [p.grad for p in fused_model.parameters()]
    assert float(torch.nn.utils.get_total_norm(grads)) == pytest.approx(0.05, rel=1e-4)
    scaler.step(fused)

    plain_model(inputs).square().sum().backward()
    torch.nn.utils.clip_grad_norm_(plain_model.parameters(), 0.05)
    plain.step()
    for ours, reference in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(ours, reference)
