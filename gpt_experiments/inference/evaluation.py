"""Cross-entropy and perplexity of a model on a long text, with overlapping windows.

A text longer than the context is scored window by window. With non-overlapping
windows the first tokens of each window are predicted from almost no context, which
inflates perplexity. Following Hugging Face's perplexity guide
(https://huggingface.co/docs/transformers/perplexity), windows of ``context_length``
tokens start every ``stride`` tokens, and each window scores only the tokens that the
previous window did not, so every token is scored once, with at least
``context_length - stride`` tokens of context (except at the start of the text).

Bits per byte divides the summed cross-entropy by ``ln 2`` times the UTF-8 bytes of the
scored tokens (every token but the first), so it compares models with different tokenizers.

Training's ``val/loss`` is another measure of the same split: windows of ``data.max_length``
every ``data.stride`` (by default apart), each scoring all its targets, so a window's first
tokens are predicted from little context and the number is higher than the sliding one.
:func:`training_validation_loss` computes that number exactly as training does.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from gpt_experiments.data.text_stream import read_blocks
from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.errors import ConfigError, DataError, missing_reason
from gpt_experiments.inference.eval_mode import eval_mode
from gpt_experiments.model import GPT
from gpt_experiments.tokenizer import Tokenizer, gpt2


@dataclass
class PerplexityResult:
    cross_entropy: float  # mean negative log-likelihood per scored token, in nats
    perplexity: float  # exp(cross_entropy)
    bits_per_byte: float | None  # summed cross-entropy / (ln 2 x bytes_scored); None without bytes
    tokens_scored: int
    bytes_scored: int  # UTF-8 bytes the scored tokens stand for
    windows: int
    context_length: int
    stride: int
    method: str = ""  # how the tokens were scored, and how that relates to training's val/loss


def window_spans(num_tokens: int, context_length: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, new)`` per window: it reads tokens ``[begin, end)`` and scores its last
    ``new`` targets, the ones no earlier window scored."""
    if not 1 <= stride <= context_length:
        raise ConfigError(
            f"stride={stride} is invalid: it must be between 1 and the context length {context_length} "
            "(a larger stride would skip tokens)"
        )
    if num_tokens < 2:
        raise ConfigError(f"the text has {num_tokens} token(s): at least 2 are needed to score a prediction")
    spans, scored_until = [], 1  # token 0 has no prediction to score
    for begin in range(0, num_tokens, stride):
        end = min(begin + context_length, num_tokens)
        # With stride == context_length a window's first token has no context inside it: unscored
        # (so a last window of one token scores nothing and is left out).
        new = min(end - scored_until, end - begin - 1)
        if new > 0:
            spans.append((begin, end, new))
        scored_until = end
        if end == num_tokens:
            break
    return spans


@torch.inference_mode()
def sliding_window_perplexity(
    model: GPT,
    token_ids: list[int] | np.ndarray,
    stride: int | None = None,
    context_length: int | None = None,
    progress: bool = True,
    tokenizer: Tokenizer | None = None,
) -> PerplexityResult:
    """Perplexity and bits per byte of ``token_ids`` under ``model``; ``stride`` defaults to half
    the context; ``tokenizer`` (default GPT-2's) tells how many bytes each token stands for."""
    if context_length is None:
        context_length = model.config.context_length
    if not 2 <= context_length <= model.config.context_length:
        raise ConfigError(
            f"context_length={context_length} is invalid: it must be between 2 and the model's "
            f"{model.config.context_length}"
        )
    if stride is None:
        stride = context_length // 2
    spans = window_spans(len(token_ids), context_length, stride)
    device = next(model.parameters()).device
    ids = torch.from_numpy(np.asarray(token_ids, dtype=np.int64)).to(device)
    byte_lengths = torch.from_numpy((tokenizer or gpt2()).byte_lengths).to(device)
    nll_sum, tokens_scored, bytes_scored = 0.0, 0, 0
    with eval_mode(model):
        for begin, end, new in tqdm(spans, desc="perplexity", unit="window", disable=not progress):
            window = ids[begin:end]
            # Position i predicts token i + 1, so the last position has nothing to score.
            logits = model(window[None, :-1])[0, -new:]
            nll_sum += F.cross_entropy(logits.float(), window[-new:], reduction="sum").item()
            tokens_scored += new
            bytes_scored += int(byte_lengths[window[-new:]].sum())
    cross_entropy = nll_sum / tokens_scored
    return PerplexityResult(
        cross_entropy=cross_entropy,
        perplexity=math.exp(cross_entropy),
        bits_per_byte=nll_sum / (math.log(2) * bytes_scored) if bytes_scored else None,
        tokens_scored=tokens_scored,
        bytes_scored=bytes_scored,
        windows=len(spans),
        context_length=context_length,
        stride=stride,
        method=(
            f"sliding windows of {context_length} tokens every {stride}: each token scored once, with at "
            f"least {context_length - stride} tokens of context; training's val/loss scores every target of "
            "its windows (its first ones with little context), so it differs: windows=training reproduces it"
        ),
    )


def precision_name(autocast_dtype: torch.dtype | None) -> str:
    return "full precision" if autocast_dtype is None else f"under {autocast_dtype} autocast"


@torch.inference_mode()
def training_validation_loss(
    model: GPT,
    windows: TokenWindows,
    batch_size: int,
    max_windows: int | None = None,
    tokenizer: Tokenizer | None = None,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
) -> PerplexityResult:
    """The loss a training validation reports for ``windows`` (the run's val windows): every
    target of every window, summed over batches of ``batch_size`` in float64 and divided by
    their count, by the model's own fused head and loss, as ``GPTLitModule`` does;
    ``max_windows`` stands for ``limit_val_batches``, ``autocast_dtype`` for a mixed-precision
    run's autocast (None: full precision)."""
    count = len(windows) if max_windows is None else min(len(windows), max_windows)
    if count == 0:
        raise ConfigError("no window to score: the split is shorter than one window")
    device = next(model.parameters()).device
    byte_lengths = torch.from_numpy((tokenizer or gpt2()).byte_lengths).to(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    tokens_scored, bytes_scored = 0, 0
    autocast = torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)
    with eval_mode(model), autocast:
        for start in tqdm(range(0, count, batch_size), desc="val loss", unit="batch", disable=not progress):
            batch = [windows[i] for i in range(start, min(start + batch_size, count))]
            inputs = torch.stack([x for x, _ in batch]).to(device)
            targets = torch.stack([y for _, y in batch]).to(device)
            loss_sum += model(inputs, targets=targets, reduction="sum").double()
            tokens_scored += targets.numel()
            bytes_scored += int(byte_lengths[targets].sum())
    cross_entropy = float((loss_sum / tokens_scored).float())  # training logs it in float32
    return PerplexityResult(
        cross_entropy=cross_entropy,
        perplexity=math.exp(cross_entropy),
        bits_per_byte=float(loss_sum) / (math.log(2) * bytes_scored) if bytes_scored else None,
        tokens_scored=tokens_scored,
        bytes_scored=bytes_scored,
        windows=count,
        context_length=windows.max_length,
        stride=windows.stride,
        method=(
            f"training's validation: windows of {windows.max_length} tokens every {windows.stride}, every "
            f"target scored, in batches of {batch_size}, {precision_name(autocast_dtype)} (the run's data "
            "and precision settings): its val/loss"
        ),
    )


def read_texts(paths: str | list[str] | None) -> str:
    """The text of one path or glob, or of several joined by newlines (in the order given)."""
    if not paths:
        raise ConfigError("no text to evaluate: pass text_path=<file or glob> or data=<data option>")
    patterns = [paths] if isinstance(paths, str) else list(paths)
    texts = []
    for pattern in patterns:
        files = sorted(glob.glob(pattern, recursive=True)) or [pattern]
        for file in files:
            if not Path(file).is_file():
                raise DataError(
                    f"text file {file} {missing_reason(Path(file))}: pass text_path=<file or glob>"
                )
            # read_blocks names the file and the byte when it is not UTF-8, and drops a BOM.
            texts.append("".join(read_blocks(Path(file), fix="convert it to UTF-8")))
    return "\n".join(texts)
