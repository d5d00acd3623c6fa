"""Text generation: greedy, temperature, top-k and nucleus (top-p) sampling with a KV cache."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import torch

from gpt_experiments.config_types import describe, matches
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.eval_mode import eval_mode
from gpt_experiments.model import GPT


@dataclass
class SamplerConfig:
    """How the next token is chosen. ``temperature == 0`` means greedy (argmax)."""

    max_new_tokens: int = 50
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    # "eot": the tokenizer's end-of-text id, filled in by for_tokenizer().
    eos_id: int | Literal["eot"] | None = None
    seed: int | None = None

    def for_tokenizer(self, eot_id: int | None) -> SamplerConfig:
        """This config with ``eos_id="eot"`` replaced by the tokenizer's ``eot_id``."""
        return replace(self, eos_id=eot_id) if self.eos_id == "eot" else self

    def validate(self, vocab_size: int | None) -> None:
        """Raise ``ConfigError`` with a one-line message naming the bad key and what is allowed.

        ``vocab_size`` None: not known yet, so ids are checked against no upper bound.
        """
        bound = vocab_size if vocab_size is not None else float("inf")
        if self.max_new_tokens < 0:
            raise ConfigError(f"sampler.max_new_tokens={self.max_new_tokens} is invalid: it must be >= 0")
        if self.temperature < 0:
            raise ConfigError(
                f"sampler.temperature={self.temperature} is invalid: it must be >= 0 (0 means greedy)"
            )
        if self.top_k is not None and not 1 <= self.top_k <= bound:
            raise ConfigError(
                f"sampler.top_k={self.top_k} is invalid: it must be between 1 and the vocabulary size "
                f"{vocab_size}, or null to disable"
            )
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(
                f"sampler.top_p={self.top_p} is invalid: it must be in (0, 1], or null to disable"
            )
        if self.eos_id == "eot":
            return  # checked once the tokenizer is known (for_tokenizer)
        if self.eos_id is not None and (not isinstance(self.eos_id, int) or not 0 <= self.eos_id < bound):
            raise ConfigError(
                f"sampler.eos_id={self.eos_id} is invalid: it must be a token id below {vocab_size}, "
                "or null to never stop early"
            )


def sampler_and_prompts(settings: Mapping[str, Any]) -> tuple[SamplerConfig, list[str]]:
    """Split a ``conf/sampler/*.yaml`` mapping into its :class:`SamplerConfig` and prompt texts."""
    values = dict(settings)
    prompts = [str(p) for p in values.pop("prompts", None) or []]
    allowed = {f.name for f in fields(SamplerConfig)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"sampler has unknown keys {unknown}: allowed are {sorted(allowed)} and prompts")
    check_sampler_types(values)
    return SamplerConfig(**values), prompts


def check_sampler_types(values: Mapping[str, Any]) -> None:
    """Each value must fit its field's type: generate.py gets no other check before comparing them."""
    hints = typing.get_type_hints(SamplerConfig)
    for key, value in values.items():
        if not matches(value, hints[key]):
            raise ConfigError(
                f"sampler.{key}={value!r} has the wrong type: it must be {describe(hints[key])}"
            )


def check_prompts(prompts: list[list[int]], context_length: int) -> None:
    """Refuse empty prompts and prompts the model cannot read whole, with a one-line message."""
    if not prompts:
        raise ConfigError("no prompts given: pass at least one prompt")
    for prompt in prompts:
        if not prompt:
            raise ConfigError("every prompt needs at least one token: pass non-empty prompt text")
        if len(prompt) > context_length:
            raise ConfigError(
                f"a prompt of {len(prompt)} tokens is longer than the model's context length "
                f"{context_length}: shorten the prompt"
            )


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (exactly k, ties broken by ``topk``); the rest become -inf."""
    top = torch.topk(logits, k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, top.indices, top.values)


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability mass reaches ``p``."""
    if p >= 1:
        return logits  # every token is needed; cumulative sums may round to just below 1
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
        # max(...).indices picks the first of tied maxima, as argmax does, and is 2-4x
        # faster on CPU over 50k logits: it matters when a cached step takes ~15 ms.
        return logits.max(dim=-1, keepdim=True).indices
    logits = logits.float() / sampler.temperature
    if sampler.top_k is not None:
        logits = filter_top_k(logits, sampler.top_k)
    if sampler.top_p is not None:
        logits = filter_top_p(logits, sampler.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


@torch.inference_mode()
def stream_tokens(
    model: GPT, prompt_ids: list[int], sampler: SamplerConfig, use_cache: bool = True
) -> Iterator[int]:
    """Yield new tokens one at a time for a single prompt (for printing as they come)."""
    _check(model, [prompt_ids], sampler)
    with eval_mode(model):
        idx = _as_batch(model, [prompt_ids])
        for step in _decode(model, idx, sampler, _generator(model, sampler.seed), use_cache):
            token = int(step[0])
            yield token
            if token == sampler.eos_id:
                return


@torch.inference_mode()
def generate(
    model: GPT,
    prompts: list[list[int]],
    sampler: SamplerConfig,
    use_cache: bool = True,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Continue each prompt; returns prompt + new tokens per row (a row stops after ``eos_id``).

    Prompts of equal length run together, ``batch_size`` rows at a time (default: all).
    The model has no padding mask, so prompts of different lengths are grouped by
    length rather than padded: padding would change what the shorter prompts attend to.
    With a ``seed``, results are reproducible for the same list of prompts.
    """
    _check(model, prompts, sampler)
    generator = _generator(model, sampler.seed)
    outputs = [list(p) for p in prompts]
    with eval_mode(model):
        for rows in _batches_by_length(prompts, batch_size):
            idx = _as_batch(model, [prompts[r] for r in rows])
            finished = [False] * len(rows)
            for step in _decode(model, idx, sampler, generator, use_cache):
                for i, token in enumerate(step.tolist()):
                    if not finished[i]:
                        outputs[rows[i]].append(token)
                        finished[i] = token == sampler.eos_id
                if all(finished):
                    break
    return outputs


def _check(model: GPT, prompts: list[list[int]], sampler: SamplerConfig) -> None:
    sampler.validate(model.config.vocab_size)
    check_prompts(prompts, model.config.context_length)


def _generator(model: GPT, seed: int | None) -> torch.Generator | None:
    """A private random stream for reproducible samples; ``None`` uses torch's global one."""
    if seed is None:
        return None
    return torch.Generator(device=next(model.parameters()).device).manual_seed(seed)


def _as_batch(model: GPT, prompts: list[list[int]]) -> torch.Tensor:
    return torch.tensor(prompts, dtype=torch.long, device=next(model.parameters()).device)


def _batches_by_length(prompts: list[list[int]], batch_size: int | None) -> list[list[int]]:
    """Row indices of ``prompts`` grouped by prompt length, at most ``batch_size`` per group."""
    if batch_size is not None and batch_size < 1:
        raise ConfigError(
            f"batch_size={batch_size} is invalid: it must be >= 1, or null for all prompts at once"
        )
    by_length: dict[int, list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(row)
    size = batch_size or len(prompts)
    return [rows[i : i + size] for rows in by_length.values() for i in range(0, len(rows), size)]


def _decode(
    model: GPT, idx: torch.Tensor, sampler: SamplerConfig, generator: torch.Generator | None, use_cache: bool
) -> Iterator[torch.Tensor]:
    """Yield the next token of every row of ``idx`` ``[batch, seq]``, ``max_new_tokens`` times."""
    if sampler.max_new_tokens == 0:
        return
    context_length = model.config.context_length
    cache = model.new_cache(min(idx.shape[1] + sampler.max_new_tokens, context_length)) if use_cache else None
    logits = model(idx, cache, last_position_only=True)[:, -1, :]
    for step in range(sampler.max_new_tokens):
        token = next_token(logits, sampler, generator)
        yield token[:, 0]
        if step == sampler.max_new_tokens - 1:
            return  # no forward pass for a token nobody will read
        idx = torch.cat([idx, token], dim=1)
        if cache is not None and idx.shape[1] <= context_length:
            logits = model(token, cache)[:, -1, :]
        else:
            # Past the context length every position shifts, so cached keys (which
            # embed absolute positions) are stale: recompute the last window, as the seed does.
            idx = idx[:, -context_length:]
            cache = None
            logits = model(idx, last_position_only=True)[:, -1, :]
