"""optimizer=muon: the blocks' matrices get torch's Muon (an orthogonalised update), everything
else AdamW; one optimizer for Lightning, scheduled, checkpointed and resumed exactly."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.muon import MuonWithAdamW
from gpt_experiments.training.optimizers import build_optimizer
from tests.helpers import TINY_RUN, run_script, script_env
from tests.helpers.step_losses import LOSSES_FILE, read_step_losses

SPEC = {
    "_target_": "gpt_experiments.training.muon.MuonWithAdamW",
    "lr": 0.02,
    "weight_decay": 0.01,
    "momentum": 0.95,
    "nesterov": True,
    "ns_steps": 5,
    "adjust_lr_fn": "original",
    "adamw": {"lr": 4e-4, "weight_decay": 0.1, "betas": [0.9, 0.95]},
}


def tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=101, context_length=16, emb_dim=24, n_heads=3, n_layers=2, drop_rate=0.0))


def take_step(model: GPT, optimizer: torch.optim.Optimizer, seed: int) -> None:
    torch.manual_seed(seed)
    idx = torch.randint(0, 101, (2, 16))
    optimizer.zero_grad()
    model(idx, targets=idx.roll(-1, 1)).backward()
    optimizer.step()


def test_blocks_matrices_step_as_torchs_muon_and_the_rest_as_adamw():
    model, reference = tiny_model(), tiny_model()
    combined = build_optimizer(model, SPEC)
    # The definition: two optimizers stepping one model, Muon over the blocks' matrices.
    named = dict(reference.named_parameters())
    in_blocks = [p for n, p in named.items() if n.startswith("h.") and p.dim() == 2]
    decayed = [p for n, p in named.items() if not n.startswith("h.") and p.dim() == 2]
    vectors = [p for p in named.values() if p.dim() == 1]
    muon = torch.optim.Muon(in_blocks, lr=0.02, weight_decay=0.01, adjust_lr_fn="original")
    adamw = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": 0.1}, {"params": vectors, "weight_decay": 0.0}],
        lr=4e-4,
        betas=(0.9, 0.95),
    )
    both = Both(muon, adamw)
    for step in range(3):
        take_step(model, combined, step)
        take_step(reference, both, step)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param, named[name], rtol=0, atol=0, msg=name)
    assert {id(p) for g in combined.param_groups if g["muon"] for p in g["params"]} == {
        id(p) for n, p in model.named_parameters() if n.startswith("h.") and p.dim() == 2
    }


class Both:
    """Steps two optimizers as one (what the test compares MuonWithAdamW with)."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()


def test_a_muon_update_is_close_to_the_polar_factor_of_the_gradient():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.zeros(6, 4))
    gradient = torch.randn(6, 4)
    optimizer = torch.optim.Muon([weight], lr=1.0, weight_decay=0.0, adjust_lr_fn="original")
    weight.grad = gradient
    optimizer.step()
    # The update is -lr * sqrt(max(1, rows / cols)) * NS(gradient); NS approximates U V^T.
    update = -weight.detach() / math.sqrt(6 / 4)
    u, _, vh = torch.linalg.svd(gradient, full_matrices=False)
    polar = u @ vh
    singular_values = torch.diagonal(u.T @ update @ vh.T)
    # Muon's quintic iteration trades exactness for speed: singular values land near 1, not on it.
    assert torch.all((singular_values > 0.6) & (singular_values < 1.25)), singular_values
    cosine = (update * polar).sum() / (update.norm() * polar.norm())
    assert cosine > 0.95
    off_diagonal = u.T @ update @ vh.T - torch.diag(singular_values)
    assert off_diagonal.abs().max() < 0.1


def test_the_saved_state_continues_exactly():
    model = tiny_model()
    optimizer = build_optimizer(model, SPEC)
    for step in range(2):
        take_step(model, optimizer, step)
    state = copy.deepcopy(optimizer.state_dict())
    resumed_model = copy.deepcopy(model)
    resumed = build_optimizer(resumed_model, SPEC)
    resumed.load_state_dict(state)
    for step in (2, 3):
        take_step(model, optimizer, step)
        take_step(resumed_model, resumed, step)
    for original, copied in zip(model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(original, copied)


def test_a_state_of_another_optimizer_is_refused():
    optimizer = build_optimizer(tiny_model(), SPEC)
    with pytest.raises(ValueError, match="not a MuonWithAdamW state"):
        optimizer.load_state_dict(torch.optim.AdamW(tiny_model().parameters()).state_dict())
    assert isinstance(optimizer, MuonWithAdamW)


@pytest.mark.slow
def test_muon_trains_and_a_finished_run_continues_with_the_losses_of_an_uninterrupted_one(tmp_path):
    # A constant lr: a schedule over the whole run would differ between a 1-epoch leg and 2 epochs.
    run = [*TINY_RUN, "optimizer=muon", "trainer.limit_train_batches=6"]
    recorder = "+callbacks.step_losses._target_=tests.helpers.step_losses.StepLossRecorder"
    full = run_script(
        "train.py",
        *run,
        recorder,
        "trainer.max_epochs=2",
        "paths.log_dir=full",
        cwd=tmp_path,
        env=script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / "full.jsonl")}),
    )
    assert full.returncode == 0, full.stderr[-3000:]
    legs = [("trainer.max_epochs=1",), ("trainer.max_epochs=2", "resume=auto")]
    for number, leg in enumerate(legs):
        result = run_script(
            "train.py",
            *run,
            recorder,
            *leg,
            "paths.log_dir=legs",
            cwd=tmp_path,
            env=script_env(tmp_path, **{LOSSES_FILE: str(tmp_path / f"leg{number}.jsonl")}),
        )
        assert result.returncode == 0, result.stderr[-3000:]
    expected = read_step_losses(tmp_path / "full.jsonl")
    first, second = (read_step_losses(tmp_path / f"leg{n}.jsonl") for n in range(2))
    assert sorted(first) == list(range(1, 7)) and sorted(second) == list(range(7, 13))
    assert {**first, **second} == expected
    assert expected[12] < expected[1]
