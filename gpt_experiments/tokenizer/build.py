"""One function from a ``conf/tokenizer`` option, or a tokenizer saved in a checkpoint, to a Tokenizer.

Both are plain dicts with a ``kind``; the saved ones also hold what the config only
points at (the ranks or JSON text, the char vocabulary), so they need no file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gpt_experiments.errors import ConfigError
from gpt_experiments.tokenizer.base import CorpusPiece, Tokenizer
from gpt_experiments.tokenizer.char import CharTokenizer
from gpt_experiments.tokenizer.gpt2 import GPT2_RANKS_SHA256, gpt2
from gpt_experiments.tokenizer.huggingface import huggingface_from_spec
from gpt_experiments.tokenizer.tiktoken_bpe import tiktoken_from_spec

KINDS = ("gpt2", "tiktoken", "huggingface", "char")


def build_tokenizer(
    spec: Mapping[str, Any] | Tokenizer | None, corpus: Callable[[], Iterable[CorpusPiece]] | None = None
) -> Tokenizer:
    """The tokenizer ``spec`` describes (None: GPT-2's). ``corpus`` yields the training corpus
    stream and is read only by a ``char`` tokenizer that has no saved vocabulary yet."""
    if isinstance(spec, Tokenizer):
        return spec
    spec = dict(spec or {"kind": "gpt2"})
    kind = spec.get("kind")
    if kind == "gpt2":
        if spec.get("ranks_sha256", GPT2_RANKS_SHA256) != GPT2_RANKS_SHA256:
            raise ConfigError(
                "the saved gpt2 tokenizer has other ranks than this version ships: "
                "load it with the version that wrote it"
            )
        return gpt2()
    if kind == "tiktoken":
        return tiktoken_from_spec(spec)
    if kind == "huggingface":
        return huggingface_from_spec(spec)
    if kind == "char":
        if spec.get("chars"):
            return CharTokenizer(spec["chars"])
        if corpus is None:
            raise ConfigError("a char tokenizer without a saved vocabulary needs the corpus it is built from")
        return CharTokenizer.from_corpus(corpus())
    raise ConfigError(f"tokenizer.kind={kind!r} is unknown: use one of {', '.join(KINDS)}")
