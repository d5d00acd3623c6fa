"""GPT-2 in one file: embeddings, pre-LayerNorm transformer blocks, tied output head.

Parameter names follow OpenAI / Hugging Face / nanoGPT (``wte``, ``wpe``,
``h.N.attn.c_attn``, ``ln_f``, ``lm_head``) so converting checkpoints is a table of
renames and transposes. ``lm_head.weight`` *is* ``wte.weight`` (one shared tensor).

The parts that later models swap in are settings, each defaulting to GPT-2's choice, so an
ablation is a sweep: rotary or no position embeddings, RMSNorm, SwiGLU or squared-ReLU
MLPs, QK-normalisation and bias-free layers (``GPTConfig``; docs/ablations.md).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from gpt_experiments.errors import ConfigError

INIT_SCHEMES = ("gpt2", "pytorch")
# Each component setting's choices, GPT-2's first.
POS_EMBEDDINGS = ("learned", "rope", "none")
NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "relu2")
# The settings of GPT-2's own architecture: OpenAI's and Hugging Face's formats hold nothing else.
GPT2_PARTS = {"pos_embedding": "learned", "norm": "layernorm", "mlp": "gelu", "qk_norm": False, "bias": True}
# LayerNorm's epsilon in GPT-2; RMSNorm uses the same.
NORM_EPS = 1e-5


@dataclass
class GPTConfig:
    """Architecture hyperparameters, named as in the seed chapter."""

    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = True
    # GPT-2 ties the output head to the token embedding; the seed chapter's model does not.
    tie_embeddings: bool = True
    # "gpt2": N(0, 0.02) with residual projections scaled by 1/sqrt(2 n_layers) (OpenAI, nanoGPT).
    # "pytorch": PyTorch's default layer initialisation, as in the seed chapter's model.
    weight_init: str = "gpt2"
    # Round the embedding/head rows up to a multiple of this (64 suits GPU matmul tiles);
    # the extra ids are never produced: logits are cut back to vocab_size.
    pad_vocab_to_multiple: int = 1
    # "learned" (GPT-2's wpe table), "rope" (rotary, RoFormer) or "none" (causal attention alone).
    pos_embedding: str = "learned"
    rope_base: float = 10000.0
    # "layernorm" (GPT-2) or "rmsnorm" (x / rms(x) * g: no mean, no bias).
    norm: str = "layernorm"
    # "gelu" (GPT-2, tanh form), "swiglu" (silu(x W1) * (x W3), then W2) or "relu2" (relu(x)^2).
    mlp: str = "gelu"
    # The MLP's hidden width; null: 4 x emb_dim, or for swiglu 8/3 x emb_dim rounded up to a
    # multiple of 8, which keeps its three matrices at the parameter count of GPT-2's two.
    mlp_hidden: int | None = None
    # RMS-normalise each head's queries and keys before attention (a learned gain per channel).
    qk_norm: bool = False
    # Biases in every linear layer and norm (GPT-2); false removes them all, qkv_bias included.
    bias: bool = True

    def __post_init__(self) -> None:
        validate_gpt_config(self)

    @property
    def padded_vocab_size(self) -> int:
        return math.ceil(self.vocab_size / self.pad_vocab_to_multiple) * self.pad_vocab_to_multiple

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """The MLP's hidden width (see ``mlp_hidden``)."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        if self.mlp == "swiglu":
            return math.ceil(8 * self.emb_dim / 3 / 8) * 8
        return 4 * self.emb_dim

    def non_gpt2_parts(self) -> list[str]:
        """``key=value`` of each setting where this model departs from GPT-2's architecture."""
        return [
            f"model.{key}={getattr(self, key)}"
            for key, gpt2 in GPT2_PARTS.items()
            if getattr(self, key) != gpt2
        ]

    def to_dict(self) -> dict:
        return asdict(self)


def validate_gpt_config(cfg: GPTConfig) -> None:
    """Raise ``ConfigError`` with a one-line message naming the bad key and what is allowed."""
    for key in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "pad_vocab_to_multiple"):
        value = getattr(cfg, key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"model.{key}={value!r} is invalid: it must be a positive integer")
    if cfg.emb_dim % cfg.n_heads != 0:
        raise ConfigError(
            f"model.emb_dim={cfg.emb_dim} is not divisible by model.n_heads={cfg.n_heads}: "
            "choose an emb_dim that is a multiple of n_heads"
        )
    if not 0.0 <= cfg.drop_rate < 1.0:
        raise ConfigError(f"model.drop_rate={cfg.drop_rate} is invalid: it must be in [0, 1)")
    for key, choices in (
        ("weight_init", INIT_SCHEMES),
        ("pos_embedding", POS_EMBEDDINGS),
        ("norm", NORMS),
        ("mlp", MLPS),
    ):
        if getattr(cfg, key) not in choices:
            raise ConfigError(
                f"model.{key}={getattr(cfg, key)!r} is unknown: use one of {', '.join(choices)}"
            )
    if cfg.pos_embedding == "rope" and cfg.head_dim % 2:
        raise ConfigError(
            f"model.pos_embedding=rope rotates pairs of channels, but a head has {cfg.head_dim} "
            "(emb_dim / n_heads): choose an even head size"
        )
    if not (isinstance(cfg.rope_base, int | float) and cfg.rope_base > 1):
        raise ConfigError(f"model.rope_base={cfg.rope_base!r} is invalid: it must be a number above 1")
    if cfg.mlp_hidden is not None and (not isinstance(cfg.mlp_hidden, int) or cfg.mlp_hidden <= 0):
        raise ConfigError(f"model.mlp_hidden={cfg.mlp_hidden!r} is invalid: a positive integer, or null")


def make_norm(cfg: GPTConfig, dim: int) -> nn.Module:
    """The configured normalisation over the last ``dim`` channels."""
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(dim, eps=NORM_EPS)
    return nn.LayerNorm(dim, eps=NORM_EPS, bias=cfg.bias)


def rotate(x: torch.Tensor, start: int, base: float) -> torch.Tensor:
    """Rotary position embedding of ``x`` ``[batch, heads, seq, head_dim]`` at positions
    ``start..start+seq-1``: channel ``j`` of the first half and channel ``j`` of the second
    half form a pair, rotated by the angle position x base^(-2j / head_dim).

    Computed in fp32 (angles of late positions lose their digits in bf16), returned in
    ``x``'s dtype. Cheap enough to recompute each call, so nothing position-sized is stored.
    """
    seq, head_dim = x.shape[2], x.shape[3]
    half = head_dim // 2
    frequencies = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) * 2 / head_dim)
    positions = torch.arange(start, start + seq, device=x.device, dtype=torch.float32)
    angles = positions[:, None] * frequencies[None, :]
    cos, sin = angles.cos(), angles.sin()
    first, second = x.float().split(half, dim=-1)
    rotated = torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
    return rotated.to(x.dtype)


class KVCache:
    """Keys and values of past positions, one pair per layer.

    Each layer's buffer is allocated once, at ``capacity`` positions, on its first
    update; later tokens are written in place instead of concatenating a new,
    longer tensor every step.

    On the CPU the buffers are fp32 whatever the model's dtype: one new query attends over
    fp32 keys with torch's fused kernel 3-5x faster than over bf16 ones (no bf16 kernel is
    fast for a single query there; docs/benchmarks.md), and storing bf16 values in fp32 is
    exact. Elsewhere they keep the model's dtype.
    """

    def __init__(self, n_layers: int, capacity: int) -> None:
        self.capacity = capacity
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers
        self.lengths = [0] * n_layers

    @property
    def length(self) -> int:
        """Positions that every layer has cached: where the next tokens' positions start."""
        return self.lengths[-1]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's keys/values ``[batch, heads, seq, head_dim]`` and return the full history."""
        start, end = self.lengths[layer], self.lengths[layer] + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache is full: {end} positions requested, capacity is {self.capacity}")
        if self.keys[layer] is None:
            batch, heads, _, head_dim = k.shape
            dtype = torch.float32 if k.device.type == "cpu" else k.dtype
            self.keys[layer] = k.new_empty(batch, heads, self.capacity, head_dim, dtype=dtype)
            self.values[layer] = v.new_empty(batch, heads, self.capacity, head_dim, dtype=dtype)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        self.lengths[layer] = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.head_dim
        # One projection for queries, keys and values, as in OpenAI's checkpoints.
        self.c_attn = nn.Linear(cfg.emb_dim, 3 * cfg.emb_dim, bias=cfg.qkv_bias and cfg.bias)
        self.c_proj = nn.Linear(cfg.emb_dim, cfg.emb_dim, bias=cfg.bias)
        self.drop_rate = cfg.drop_rate
        self.resid_dropout = nn.Dropout(cfg.drop_rate)
        # A gain per head channel, shared by the heads (as the query/key projections' scale is).
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=NORM_EPS) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=NORM_EPS) if cfg.qk_norm else None
        self.rope_base = cfg.rope_base if cfg.pos_embedding == "rope" else None

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        batch, seq_len, emb_dim = x.shape
        q, k, v = self.c_attn(x).split(emb_dim, dim=2)
        # (batch, seq, emb) -> (batch, heads, seq, head_dim)
        q, k, v = (t.view(batch, seq_len, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope_base is not None:
            # Keys are cached rotated: each keeps the rotation of its own position.
            start = cache.lengths[layer] if cache is not None else 0
            q, k = rotate(q, start, self.rope_base), rotate(k, start, self.rope_base)
        if cache is not None:
            k, v = cache.update(layer, k, v)
            q = q.to(k.dtype)  # the cache may hold a wider dtype than the model's (see KVCache)
        past = k.shape[2] - seq_len  # positions that were cached before this call
        dropout = self.drop_rate if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        elif seq_len == 1 and dropout == 0.0:
            # A single new query is the last position: it may see every key, no mask needed.
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            # New queries sit at positions past..past+seq_len-1 and may see every key up to their own.
            key_pos = torch.arange(k.shape[2], device=x.device)
            query_pos = torch.arange(past, past + seq_len, device=x.device)
            mask = key_pos[None, :] <= query_pos[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(batch, seq_len, emb_dim).to(x.dtype)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """GPT-2's MLP (gelu), or the SwiGLU / squared-ReLU variants (``GPTConfig.mlp``).

    SwiGLU's two input matrices (gate W1 and value W3) are one ``c_fc`` of twice the hidden
    width, split after the product: one matrix product instead of two.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.kind = cfg.mlp
        inputs = 2 * cfg.hidden_dim if cfg.mlp == "swiglu" else cfg.hidden_dim
        self.c_fc = nn.Linear(cfg.emb_dim, inputs, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.hidden_dim, cfg.emb_dim, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.c_fc(x)
        if self.kind == "swiglu":
            gate, value = hidden.chunk(2, dim=-1)
            hidden = F.silu(gate) * value
        elif self.kind == "relu2":
            hidden = F.relu(hidden).square()
        else:
            hidden = F.gelu(hidden, approximate="tanh")  # GPT-2 was trained with the tanh form
        return self.dropout(self.c_proj(hidden))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = make_norm(cfg, cfg.emb_dim)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = make_norm(cfg, cfg.emb_dim)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.padded_vocab_size, cfg.emb_dim)
        # Only learned positions have a table; rotary ones live in attention, "none" has none.
        self.wpe = nn.Embedding(cfg.context_length, cfg.emb_dim) if cfg.pos_embedding == "learned" else None
        self.drop = nn.Dropout(cfg.drop_rate)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = make_norm(cfg, cfg.emb_dim)
        self.lm_head = nn.Linear(cfg.emb_dim, cfg.padded_vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # weight tying: one tensor, not a copy
        if cfg.weight_init == "gpt2":
            self.apply(self._init_weights)
            # GPT-2 scales residual projections by 1/sqrt(2 * n_layers) so the residual
            # stream's variance does not grow with depth.
            for name, param in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @classmethod
    def from_weights(cls, cfg: GPTConfig, state: dict[str, torch.Tensor]) -> GPT:
        """A GPT that holds ``state``'s fp32 tensors themselves (memory-mapped ones stay mapped).

        Built on the meta device, so no random initialisation runs (seconds to minutes for
        the large sizes on a CPU) and no second copy of the weights is allocated. Tensors
        saved in another float type (a ``bf16-true`` run) are converted to fp32, the model's
        own type, as ``load_state_dict`` without ``assign`` would.
        """
        with torch.device("meta"):
            model = cls(cfg)
        if cfg.tie_embeddings:  # the tied head is wte itself: a file may leave its copy out
            state = {"lm_head.weight": state["wte.weight"], **state}
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, assign=True
        )
        if cfg.tie_embeddings:
            model.lm_head.weight = model.wte.weight  # assign gave the head a Parameter of its own
        return model

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Parameters counted once each (the tied head is not counted twice)."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty KV cache for up to ``capacity`` positions (default: the context length)."""
        return KVCache(self.config.n_layers, capacity or self.config.context_length)

    def forward(
        self,
        idx: torch.Tensor,
        cache: KVCache | None = None,
        targets: torch.Tensor | None = None,
        reduction: str = "mean",
        last_position_only: bool = False,
    ) -> torch.Tensor:
        """Logits ``[batch, seq, vocab]`` for token ids ``[batch, seq]``; with ``targets``,
        the next-token cross-entropy instead (``reduction`` "mean" or "sum"), computed by
        :func:`head_cross_entropy` without holding the whole logits tensor.

        With a ``cache``, ``idx`` holds only the new tokens; their positions continue
        after those already cached. ``last_position_only`` returns the logits of the last
        position alone (``[batch, 1, vocab]``): what a generation step reads, without the
        output head's work for every position of a prompt.
        """
        _, seq_len = idx.shape
        start = cache.length if cache is not None else 0
        if start + seq_len > self.config.context_length:
            raise ValueError(
                f"sequence of {start + seq_len} tokens exceeds the model's context length "
                f"{self.config.context_length}: crop the input or raise model.context_length"
            )
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + seq_len, device=idx.device))
        x = self.drop(x)
        for layer, block in enumerate(self.h):
            x = block(x, cache, layer)
        x = self.ln_f(x)
        if targets is not None:
            return head_cross_entropy(
                x.flatten(0, 1), self.lm_head.weight, targets.flatten(), self.config.vocab_size, reduction
            )
        if last_position_only:
            x = x[:, -1:]
        logits = self.lm_head(x)
        if self.config.padded_vocab_size != self.config.vocab_size:
            # Padding ids are not tokens: drop their logits so no loss or sampler sees them.
            logits = logits[..., : self.config.vocab_size]
        return logits


# Rows of the output head computed at a time: a [rows, 50257] fp32 block is 206 MB. Fewer,
# larger blocks keep the matrix products efficient; more, smaller ones hold less memory.
HEAD_CHUNK_ROWS = 1024


def head_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int,
    reduction: str = "mean",
    chunk_rows: int = HEAD_CHUNK_ROWS,
) -> torch.Tensor:
    """Cross-entropy of ``hidden @ weight.T`` (``[tokens, emb]`` by ``[padded vocab, emb]``)
    against ``targets``, equal to ``F.cross_entropy`` on the logits.

    The logits are the largest tensor of a training step (``tokens x 50257``, 103 MB in fp32
    at batch 2, context 256). Computed ``chunk_rows`` rows at a time, each block's loss and
    gradients are taken straight away, so the full logits, their fp32 copy, the
    log-softmax and its gradient are never held, and each block is read a few times
    instead of about ten. Under autocast the matrix products run in the autocast type and
    the softmax in fp32, as ``F.cross_entropy(logits.float())`` would.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction={reduction!r}: use 'mean' or 'sum'")
    # A named range, so profiles (benchmarks/step_profile.py) can tell the head's work apart;
    # torch.compile cannot trace one (it warns), and a compiled graph has no such ranges anyway.
    profiled = (
        contextlib.nullcontext() if torch.compiler.is_compiling() else record_function("head_cross_entropy")
    )
    with profiled:
        if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
            return _HeadCrossEntropy.apply(hidden, weight, targets, vocab_size, reduction, chunk_rows)
        loss, _, _ = _head_loss_and_grads(hidden, weight, targets, vocab_size, reduction, chunk_rows, False)
        return loss


def _compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    device = tensor.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else tensor.dtype


def _head_loss_and_grads(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int,
    reduction: str,
    chunk_rows: int,
    grads: bool,
) -> tuple[torch.Tensor, Any, Any]:
    """The loss and, with ``grads``, its gradients for ``hidden`` and ``weight``."""
    dtype = _compute_dtype(hidden)
    with torch.autocast(hidden.device.type, enabled=False):
        h, w = hidden.to(dtype), weight.to(dtype)
        scale = 1.0 / targets.numel() if reduction == "mean" else 1.0
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if grads else None
        grad_weight = None
        for start in range(0, h.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            logits = (h[rows] @ w.T).float()
            logits[:, vocab_size:] = -math.inf  # padding ids are not tokens
            target = targets[rows, None]
            target_logits = logits.gather(1, target)
            # One softmax pass, in place: exp(logits - row max) and its row sums give both the
            # log-sum-exp of the loss and the gradient (torch.logsumexp would be a second pass
            # over the block, and the slowest: about twice the time of exp here).
            row_max = logits.amax(dim=1, keepdim=True)
            exps = logits.sub_(row_max).exp_()
            row_sums = exps.sum(dim=1, keepdim=True)
            loss += (row_sums.log() + row_max - target_logits).sum()
            if not grads:
                continue
            # d loss / d logits = softmax - one_hot(target), scaled, computed in place in the block.
            grad_logits = exps.mul_(scale / row_sums)
            grad_logits.scatter_add_(1, target, torch.full_like(target, -scale, dtype=grad_logits.dtype))
            grad_logits = grad_logits.to(dtype)
            grad_hidden[rows] = grad_logits @ w
            block_grad = (grad_logits.T @ h[rows]).to(weight.dtype)
            grad_weight = block_grad if grad_weight is None else grad_weight.add_(block_grad)
    return loss * scale, grad_hidden, grad_weight


class _HeadCrossEntropy(torch.autograd.Function):
    """:func:`head_cross_entropy` with gradients: computed in the forward pass, scaled in backward."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, vocab_size, reduction, chunk_rows):
        loss, grad_hidden, grad_weight = _head_loss_and_grads(
            hidden, weight, targets, vocab_size, reduction, chunk_rows, grads=True
        )
        ctx.save_for_backward(grad_hidden, grad_weight)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, grad_weight * grad_loss, None, None, None, None
