"""Models whose predictions are known in advance, so scores can be computed by hand."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


class UnigramModel(nn.Module):
    """Predicts the same distribution, ``softmax(logits)``, at every position whatever the context."""

    def __init__(self, logits: torch.Tensor, context_length: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.float(), requires_grad=False)
        self.config = SimpleNamespace(context_length=context_length, vocab_size=len(logits))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*idx.shape, -1)


def unigram(probabilities: dict[int, float], vocab_size: int, context_length: int) -> UnigramModel:
    """A :class:`UnigramModel` giving ``probabilities[i]`` to token ``i``, the rest shared evenly."""
    rest = (1 - sum(probabilities.values())) / (vocab_size - len(probabilities))
    probs = torch.full((vocab_size,), rest, dtype=torch.float64)
    for token, p in probabilities.items():
        probs[token] = p
    return UnigramModel(probs.log(), context_length)
