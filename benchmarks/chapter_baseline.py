"""The chapter's algorithm re-implemented here as the benchmarks' baseline.

The seed chapter trains a GPT whose parts are all written out by hand: attention with
separate query/key/value layers, an explicit causal mask and softmax; its own LayerNorm
and tanh GELU; an output head untied from the token embedding; a dataset holding one
tensor per window; and a loop of AdamW steps. This module does the same computation in
our own code, so the benchmarks can measure the project against the straightforward way
of writing it. ``tests/benchmarks/test_chapter_baseline.py`` checks that it computes the
same numbers as the project's ``GPT`` (logits, per-step training losses, greedy tokens).

Its pieces are separate on purpose: ``train_steps`` is a generator, so a full training run
can pause between steps to evaluate ``batch_loss`` on train/val batches without changing
the loop.
Not for real training: use ``scripts/train.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from gpt_experiments.model import GPT, GPTConfig


class WindowDataset(Dataset):
    """Sliding windows of ``max_length`` tokens every ``stride`` tokens, targets shifted by one.

    Every window is built up front as its own pair of tensors, as the chapter does, so the
    memory held grows with the number of windows (the cost the project's memory-mapped
    ``TokenWindows`` avoids).
    """

    def __init__(self, token_ids: Sequence[int], max_length: int, stride: int) -> None:
        # A window starting at `start` needs max_length + 1 tokens: its inputs plus the next one.
        starts = range(0, len(token_ids) - max_length, stride)
        self.inputs = [torch.tensor(token_ids[s : s + max_length]) for s in starts]
        self.targets = [torch.tensor(token_ids[s + 1 : s + max_length + 1]) for s in starts]

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]


class ChapterAttention(nn.Module):
    """Causal multi-head self-attention computed step by step, without fused kernels."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.emb_dim // cfg.n_heads
        # Created in the order query, key, value, output: the order random initialisation draws in.
        self.query = nn.Linear(cfg.emb_dim, cfg.emb_dim, bias=cfg.qkv_bias)
        self.key = nn.Linear(cfg.emb_dim, cfg.emb_dim, bias=cfg.qkv_bias)
        self.value = nn.Linear(cfg.emb_dim, cfg.emb_dim, bias=cfg.qkv_bias)
        self.output = nn.Linear(cfg.emb_dim, cfg.emb_dim)
        self.weight_dropout = nn.Dropout(cfg.drop_rate)
        # True above the diagonal: key positions later than the query, which it may not see.
        future = torch.triu(torch.ones(cfg.context_length, cfg.context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future, persistent=False)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, seq, emb]`` -> ``[batch, heads, seq, head_dim]``."""
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, emb_dim = x.shape
        q, k, v = (self.split_heads(layer(x)) for layer in (self.query, self.key, self.value))
        scores = q @ k.transpose(2, 3)  # [batch, heads, query position, key position]
        scores.masked_fill_(self.future[:seq_len, :seq_len], float("-inf"))
        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        mixed = self.weight_dropout(weights) @ v
        merged = mixed.transpose(1, 2).reshape(batch, seq_len, emb_dim)
        return self.output(merged)


class ChapterLayerNorm(nn.Module):
    """Normalise each vector to zero mean and unit variance, then apply a learned scale and shift."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))
        self.shift = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=-1, keepdim=True)
        variance = centred.pow(2).mean(dim=-1, keepdim=True)  # biased: divides by n, not n - 1
        return self.scale * centred / torch.sqrt(variance + self.eps) + self.shift


def tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, x * P(N(0,1) <= x), in the tanh approximation GPT-2 was trained with."""
    cubic = x + 0.044715 * x**3
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * cubic))


class ChapterFeedForward(nn.Module):
    """Widen to 4x the embedding size, apply GELU, project back; dropout on the result."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.widen = nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim)
        self.narrow = nn.Linear(4 * cfg.emb_dim, cfg.emb_dim)
        self.dropout = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.narrow(tanh_gelu(self.widen(x))))


class ChapterBlock(nn.Module):
    """Pre-LayerNorm block: x + dropout(attention(norm(x))), then x + dropout(ff(norm(x)))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.attention = ChapterAttention(cfg)
        self.feed_forward = ChapterFeedForward(cfg)
        self.attention_norm = ChapterLayerNorm(cfg.emb_dim)
        self.feed_forward_norm = ChapterLayerNorm(cfg.emb_dim)
        # The chapter drops both residual branches here, and the feed-forward branch has
        # already been dropped once inside ChapterFeedForward: with drop_rate > 0 it is
        # dropped twice. Kept, because it is part of the algorithm being compared.
        self.residual_dropout = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.residual_dropout(self.attention(self.attention_norm(x)))
        return x + self.residual_dropout(self.feed_forward(self.feed_forward_norm(x)))


class ChapterGPT(nn.Module):
    """The chapter's GPT: learned token and position embeddings, pre-LayerNorm blocks, a final
    LayerNorm and an output head of its own (not tied to the token embedding, no bias).

    Reads the architecture fields of ``GPTConfig``. Every layer keeps PyTorch's default
    initialisation and the vocabulary is never padded, so ``tie_embeddings``,
    ``weight_init`` and ``pad_vocab_to_multiple`` are not used.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.position_embedding = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.embedding_dropout = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.Sequential(*(ChapterBlock(cfg) for _ in range(cfg.n_layers)))
        self.final_norm = ChapterLayerNorm(cfg.emb_dim)
        self.head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, seq, vocab]`` for token ids ``[batch, seq]``."""
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.embedding_dropout(self.token_embedding(idx) + self.position_embedding(positions))
        return self.head(self.final_norm(self.blocks(x)))


def batch_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position of the batch."""
    device = next(model.parameters()).device
    logits = model(inputs.to(device))
    return F.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten())


def train_steps(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], optimizer: torch.optim.Optimizer
) -> Iterator[torch.Tensor]:
    """One optimizer step per batch: clear gradients, forward, loss, backward, step.

    Yields each step's (detached) loss. The caller decides how many steps to take and may
    evaluate between them; the model is put back in training mode before every step.
    """
    for inputs, targets in batches:
        model.train()
        optimizer.zero_grad()
        loss = batch_loss(model, inputs, targets)
        loss.backward()
        optimizer.step()
        yield loss.detach()


@torch.no_grad()
def generate_uncached(
    model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_length: int
) -> torch.Tensor:
    """Greedy decoding without a KV cache: every new token reruns the whole (cropped) context.

    ``idx`` is ``[batch, seq]``; returns it with ``max_new_tokens`` tokens appended.
    """
    for _ in range(max_new_tokens):
        last_logits = model(idx[:, -context_length:])[:, -1, :]
        idx = torch.cat((idx, last_logits.argmax(dim=-1, keepdim=True)), dim=1)
    return idx


def chapter_model_with_weights_of(model: GPT) -> ChapterGPT:
    """A ``ChapterGPT`` holding copies of ``model``'s weights, so both compute the same logits.

    The project fuses queries, keys and values into one ``c_attn`` layer (rows in that
    order): it is cut in three. A tied head becomes a copy of the token embedding, and rows
    added by vocabulary padding are dropped. Dropout rate and train/eval mode are not copied.
    """
    cfg = model.config
    chapter = ChapterGPT(cfg)
    ours = model.state_dict()
    weights = {
        "token_embedding.weight": ours["wte.weight"][: cfg.vocab_size],
        "position_embedding.weight": ours["wpe.weight"],
        "final_norm.scale": ours["ln_f.weight"],
        "final_norm.shift": ours["ln_f.bias"],
        "head.weight": ours["lm_head.weight"][: cfg.vocab_size],
    }
    for i in range(cfg.n_layers):
        src, dst = f"h.{i}.", f"blocks.{i}."
        for part in ("weight", "bias") if cfg.qkv_bias else ("weight",):
            thirds = ours[f"{src}attn.c_attn.{part}"].chunk(3)
            for name, tensor in zip(("query", "key", "value"), thirds, strict=True):
                weights[f"{dst}attention.{name}.{part}"] = tensor
        linears = {
            "attn.c_proj": "attention.output",
            "mlp.c_fc": "feed_forward.widen",
            "mlp.c_proj": "feed_forward.narrow",
        }
        for src_name, dst_name in linears.items():
            for part in ("weight", "bias"):
                weights[f"{dst}{dst_name}.{part}"] = ours[f"{src}{src_name}.{part}"]
        for src_name, dst_name in (("ln_1", "attention_norm"), ("ln_2", "feed_forward_norm")):
            weights[f"{dst}{dst_name}.scale"] = ours[f"{src}{src_name}.weight"]
            weights[f"{dst}{dst_name}.shift"] = ours[f"{src}{src_name}.bias"]
    params = dict(chapter.named_parameters())
    if set(params) != set(weights):
        raise AssertionError(f"weight mapping is incomplete: {sorted(set(params) ^ set(weights))}")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(weights[name])
    return chapter
