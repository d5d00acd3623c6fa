"""Bits per byte: summed cross-entropy in nats / (ln 2 x UTF-8 bytes of the scored tokens),
checked against a hand computation, in evaluation and in training's val/bpb."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.inference.evaluation import sliding_window_perplexity
from gpt_experiments.tokenizer import gpt2
from gpt_experiments.training.lit_module import GPTLitModule
from tests.helpers import quiet_trainer
from tests.inference.fixed_models import unigram

# Multi-byte characters that GPT-2 splits across tokens, so token bytes are not characters.
TEXT = "Ünïcödé bytes: naïve café, 東京タワー, emoji 🙂🙂 and plain ASCII words to end."


@pytest.mark.parametrize("stride", [7, 5, 1])
def test_bits_per_byte_equals_a_hand_computation(stride):
    tokenizer = gpt2()
    ids = tokenizer.encode(TEXT)
    first_bytes = tokenizer.encoding.decode_single_token_bytes(ids[0])
    assert len(ids) > 20 and len(TEXT.encode()) > len(TEXT) + 20
    # A model that gives probability 1/2 to the text's third token and spreads the rest evenly.
    favourite = ids[2]
    model = unigram({favourite: 0.5}, tokenizer.vocab_size, context_length=8)
    rest = 0.5 / (tokenizer.vocab_size - 1)
    # By hand: with stride < context, every token but the first is scored once.
    nats = sum(-math.log(0.5 if t == favourite else rest) for t in ids[1:])
    scored_bytes = len(TEXT.encode()) - len(first_bytes)
    result = sliding_window_perplexity(model, ids, stride=stride, progress=False, tokenizer=tokenizer)
    assert result.tokens_scored == len(ids) - 1
    assert result.bytes_scored == scored_bytes
    assert result.cross_entropy == pytest.approx(nats / (len(ids) - 1), rel=1e-6)
    assert result.bits_per_byte == pytest.approx(nats / (math.log(2) * scored_bytes), rel=1e-6)


def test_training_logs_val_bpb_over_the_scored_targets_bytes():
    """Overlapping windows (stride < length) score a token once per window: its bytes too."""
    tokenizer = gpt2()
    ids = tokenizer.encode(TEXT * 2)
    torch.manual_seed(0)
    module = GPTLitModule(
        model=dict(vocab_size=50257, context_length=8, emb_dim=12, n_heads=3, n_layers=1, drop_rate=0.0),
        optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3},
        tokenizer=tokenizer.to_dict(),
    )
    windows = TokenWindows(torch.tensor(ids).numpy().astype("uint16"), max_length=8, stride=3)
    metrics = quiet_trainer().validate(module, dataloaders=DataLoader(windows, batch_size=4), verbose=False)[
        0
    ]
    targets = [t for i in range(len(windows)) for t in windows[i][1].tolist()]
    target_bytes = sum(len(tokenizer.encoding.decode_single_token_bytes(t)) for t in targets)
    expected = metrics["val/loss"] * len(targets) / (math.log(2) * target_bytes)
    assert metrics["val/bpb"] == pytest.approx(expected, rel=1e-5)
