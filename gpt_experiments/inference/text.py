"""Text in, text out around token-level generation: prompts from the command line or a
file, continuations streamed as they are produced or printed after a batch."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from gpt_experiments.data.text_stream import read_blocks
from gpt_experiments.errors import ConfigError, missing_reason
from gpt_experiments.inference.sampling import SamplerConfig, check_prompts, generate, stream_tokens
from gpt_experiments.model import GPT
from gpt_experiments.tokenizer import Tokenizer, gpt2

BATCH_SEPARATOR = "---"  # printed on its own line after each text


def read_prompts(prompt: str | None, prompts_file: str | None, default: list[str]) -> list[str]:
    """``prompt``, else the non-blank lines of ``prompts_file``, else the config's prompts."""
    if prompt is not None and prompts_file is not None:
        raise ConfigError("pass either prompt=... or prompts_file=..., not both")
    if prompt is not None:
        return [str(prompt)]
    if prompts_file is not None:
        path = Path(prompts_file)
        if not path.is_file():
            raise ConfigError(
                f"prompts_file={prompts_file} {missing_reason(path)}: pass a text file, one prompt a line"
            )
        prompts = [
            line
            for line in "".join(read_blocks(path, fix="convert it to UTF-8")).splitlines()
            if line.strip()
        ]
        if not prompts:
            raise ConfigError(f"prompts_file={prompts_file} holds no prompt: write one prompt a line")
        return prompts
    if not default:
        raise ConfigError('no prompt given: pass prompt="..." or prompts_file=...')
    return default


def stream_text(
    model: GPT, prompt: str, sampler: SamplerConfig, tokenizer: Tokenizer | None = None
) -> Iterator[str]:
    """Yield the continuation of ``prompt`` piece by piece as tokens are sampled."""
    tokenizer = tokenizer or gpt2()
    sampler = sampler.for_tokenizer(tokenizer.eot_id)
    new_tokens = stream_tokens(model, tokenizer.encode(prompt), sampler)
    return decode_stream((t for t in new_tokens if t != sampler.eos_id), tokenizer)


def decode_stream(token_ids: Iterable[int], tokenizer: Tokenizer | None = None) -> Iterator[str]:
    """Text of ``token_ids`` as they arrive. A token can hold half of a multi-byte character,
    so bytes go through an incremental UTF-8 decoder that only emits whole characters."""
    tokenizer = tokenizer or gpt2()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in token_ids:
        yield utf8.decode(tokenizer.token_bytes(token))
    yield utf8.decode(b"", final=True)


def complete_texts(
    model: GPT,
    prompts: list[str],
    sampler: SamplerConfig,
    batch_size: int | None = None,
    tokenizer: Tokenizer | None = None,
) -> list[str]:
    """Prompt plus continuation for every prompt, generated in batches (``eos_id`` left out)."""
    tokenizer = tokenizer or gpt2()
    sampler = sampler.for_tokenizer(tokenizer.eot_id)
    rows = generate(model, [tokenizer.encode(p) for p in prompts], sampler, batch_size=batch_size)
    return [tokenizer.decode([t for t in row if t != sampler.eos_id]) for row in rows]


def check_request(
    model: GPT, prompts: list[str], sampler: SamplerConfig, tokenizer: Tokenizer | None = None
) -> None:
    """Refuse bad sampler settings and prompts the model cannot take, with a one-line message."""
    tokenizer = tokenizer or gpt2()
    sampler.for_tokenizer(tokenizer.eot_id).validate(model.config.vocab_size)
    check_prompts([tokenizer.encode(p) for p in prompts], model.config.context_length)


def print_generations(
    model: GPT,
    prompts: list[str],
    sampler: SamplerConfig,
    batch_size: int | None = None,
    out: TextIO = sys.stdout,
    tokenizer: Tokenizer | None = None,
) -> None:
    """Stream a single prompt's continuation as it comes; print several prompts' once all are done."""
    # Before the prompt is echoed: an error is all the user sees.
    check_request(model, prompts, sampler, tokenizer)
    if len(prompts) == 1:
        print(prompts[0], end="", file=out, flush=True)
        for piece in stream_text(model, prompts[0], sampler, tokenizer):
            print(piece, end="", file=out, flush=True)
        print(file=out)
        return
    for text in complete_texts(model, prompts, sampler, batch_size, tokenizer):
        print(text, BATCH_SEPARATOR, sep="\n", file=out, flush=True)
