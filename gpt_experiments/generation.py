"""Text generation: greedy, temperature, top-k and nucleus (top-p) sampling with a KV cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPT


@dataclass
class SamplerConfig:
    """How the next token is chosen. ``temperature == 0`` means greedy (argmax)."""

    max_new_tokens: int = 50
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    eos_id: int | None = None
    seed: int | None = None

    def validate(self, vocab_size: int) -> None:
        if self.max_new_tokens < 0:
            raise ConfigError(f"sampler.max_new_tokens={self.max_new_tokens} is invalid: it must be >= 0")
        if self.temperature < 0:
            raise ConfigError(
                f"sampler.temperature={self.temperature} is invalid: it must be >= 0 (0 means greedy)"
            )
        if self.top_k is not None and not 1 <= self.top_k <= vocab_size:
            raise ConfigError(
                f"sampler.top_k={self.top_k} is invalid: it must be between 1 and the vocabulary size "
                f"{vocab_size}, or null to disable"
            )
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(
                f"sampler.top_p={self.top_p} is invalid: it must be in (0, 1], or null to disable"
            )


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit below the k-th largest of its row to -inf."""
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1, None]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability mass reaches ``p``."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    # Mass of the tokens strictly ahead of each one: a token is kept while that is < p,
    # so the most likely token always survives and the set stops once it reaches p.
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop_sorted = mass_before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token(
    logits: torch.Tensor, sampler: SamplerConfig, generator: torch.Generator | None
) -> torch.Tensor:
    """Choose one token per row of ``logits`` ``[batch, vocab]``; returns ``[batch, 1]``."""
    if sampler.temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)
    logits = logits.float() / sampler.temperature
    if sampler.top_k is not None:
        logits = filter_top_k(logits, sampler.top_k)
    if sampler.top_p is not None and sampler.top_p < 1:
        logits = filter_top_p(logits, sampler.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


@torch.inference_mode()
def stream_tokens(
    model: GPT, prompt_ids: list[int], sampler: SamplerConfig, use_cache: bool = True
) -> Iterator[int]:
    """Yield new tokens one at a time for a single prompt (for printing as they come)."""
    for step in _decode_same_length(model, [prompt_ids], sampler, use_cache):
        token = int(step[0])
        yield token
        if token == sampler.eos_id:
            return


@torch.inference_mode()
def generate(
    model: GPT, prompts: list[list[int]], sampler: SamplerConfig, use_cache: bool = True
) -> list[list[int]]:
    """Continue each prompt; returns prompt + new tokens per row (a row stops after ``eos_id``).

    Prompts of equal length run as one batch. The model has no padding mask, so
    prompts of different lengths are grouped by length rather than padded: padding
    would change what the shorter prompts attend to.
    """
    outputs = [list(p) for p in prompts]
    by_length: dict[int, list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(row)
    for rows in by_length.values():
        finished = dict.fromkeys(rows, False)
        for step in _decode_same_length(model, [prompts[r] for r in rows], sampler, use_cache):
            for row, token in zip(rows, step.tolist(), strict=True):
                if not finished[row]:
                    outputs[row].append(token)
                    finished[row] = token == sampler.eos_id
            if all(finished.values()):
                break
    return outputs


def _decode_same_length(
    model: GPT, prompts: list[list[int]], sampler: SamplerConfig, use_cache: bool
) -> Iterator[torch.Tensor]:
    """Yield the next token of every row, ``[batch]``, ``max_new_tokens`` times."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token: pass non-empty prompt text")
    context_length = model.config.context_length
    sampler.validate(model.config.vocab_size)
    device = next(model.parameters()).device
    generator = None
    if sampler.seed is not None:
        generator = torch.Generator(device=device).manual_seed(sampler.seed)
    was_training = model.training
    model.eval()
    try:
        # Like the seed, keep only the last context_length tokens as context.
        idx = torch.tensor(prompts, dtype=torch.long, device=device)[:, -context_length:]
        cache = model.new_cache() if use_cache else None
        logits = model(idx, cache)[:, -1, :]
        for _ in range(sampler.max_new_tokens):
            token = next_token(logits, sampler, generator)
            yield token[:, 0]
            idx = torch.cat([idx, token], dim=1)
            if cache is not None and idx.shape[1] <= context_length:
                logits = model(token, cache)[:, -1, :]
            else:
                # Past the context length every position shifts, so cached keys (which
                # embed absolute positions) are stale: recompute the last window.
                idx = idx[:, -context_length:]
                cache = None
                logits = model(idx)[:, -1, :]
    finally:
        model.train(was_training)
