"""Speed options never change results silently: the Trainer's loss curve is the plain loop's."""

from itertools import islice

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from benchmarks.plain_loop import plain_training_steps
from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.lit_module import GPTLitModule, cross_entropy
from gpt_experiments.training.optimizers import build_optimizer
from tests.helpers import quiet_trainer

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)
STEPS = 8


class LossRecorder(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].item())


def loader() -> DataLoader:
    tokens = np.random.default_rng(0).integers(0, 101, 400).astype(np.uint16)
    return DataLoader(TokenWindows(tokens, max_length=8, stride=4), batch_size=4, shuffle=False)


def lightning_losses(optimizer: dict, scheduler: dict, clip: float | None) -> list[float]:
    torch.manual_seed(0)
    module = GPTLitModule(model=TINY, optimizer=optimizer, scheduler=scheduler)
    recorder = LossRecorder()
    trainer = quiet_trainer(
        max_steps=STEPS,
        precision="32-true",
        gradient_clip_val=clip,
        callbacks=[recorder],
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader())
    return recorder.losses


def plain_losses(optimizer: dict, scheduler: dict, clip: float | None) -> list[float]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    opt = build_optimizer(model, optimizer)
    sched = instantiate(scheduler, optimizer=opt, total_steps=STEPS)
    steps = plain_training_steps(model, loader(), opt, sched, gradient_clip_val=clip)
    return [loss.item() for loss in islice(steps, STEPS)]


def test_fp32_loss_curve_with_speed_options_off_equals_the_plain_loop():
    optimizer = {"_target_": "torch.optim.AdamW", "lr": 1e-2, "weight_decay": 0.1, "fused": False}
    scheduler = {
        "_target_": "gpt_experiments.training.schedules.warmup_cosine_schedule",
        "warmup_steps": 2,
        "min_lr_ratio": 0.1,
    }
    expected = plain_losses(optimizer, scheduler, clip=0.5)
    assert lightning_losses(optimizer, scheduler, clip=0.5) == expected
    assert expected[-1] < expected[0]


def test_fused_adamw_follows_the_same_curve():
    scheduler = {"_target_": "gpt_experiments.training.schedules.constant_schedule"}
    base = {"_target_": "torch.optim.AdamW", "lr": 1e-2, "weight_decay": 0.1}
    unfused = plain_losses({**base, "fused": False}, scheduler, clip=None)
    fused = plain_losses({**base, "fused": "auto"}, scheduler, clip=None)
    assert fused == pytest.approx(unfused, rel=1e-5)


def test_padded_vocabulary_changes_neither_logits_nor_loss():
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**TINY))
    padded = GPT(GPTConfig(**TINY, pad_vocab_to_multiple=64))
    assert padded.wte.weight.shape[0] == 128 and padded.lm_head.weight is padded.wte.weight
    with torch.no_grad():
        for name, param in padded.state_dict().items():
            source = plain.state_dict()[name]
            param[: source.shape[0]].copy_(source)  # same weights; padded rows stay random
    idx = torch.randint(0, 101, (2, 8))
    logits = padded(idx)
    assert logits.shape == (2, 8, 101)  # padded ids get no logit, so they can never be sampled
    torch.testing.assert_close(logits, plain(idx))
    torch.testing.assert_close(cross_entropy(logits, idx), cross_entropy(plain(idx), idx))


def test_compile_option_compiles_the_gpt_once():
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW"}, compile_model=True)
    module.configure_model()
    compiled = module.model._compiled_call_impl  # torch.compile is lazy: nothing compiles yet
    assert compiled is not None
    module.configure_model()  # Lightning calls it again for validate/test
    assert module.model._compiled_call_impl is compiled
