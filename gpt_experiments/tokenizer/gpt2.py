"""GPT-2 BPE tokenizer that works offline from the ranks file shipped in the package."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from gpt_experiments.tokenizer.base import END_OF_TEXT
from gpt_experiments.tokenizer.tiktoken_bpe import GPT2_PATTERN, TiktokenTokenizer

# sha256 of tiktoken's r50k_base ranks, which its "gpt2" encoding uses.
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
END_OF_TEXT_ID = 50256


@lru_cache(maxsize=1)
def gpt2_tokenizer() -> tiktoken.Encoding:
    """The ``gpt2`` encoding (n_vocab 50257), built without network access."""
    ranks_path = resources.files("gpt_experiments") / "assets" / "gpt2.tiktoken"
    ranks = load_tiktoken_bpe(str(ranks_path), expected_hash=GPT2_RANKS_SHA256)
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
    )


@lru_cache(maxsize=1)
def gpt2() -> TiktokenTokenizer:
    """GPT-2's tokenizer behind the :class:`Tokenizer` interface; saved as its name and ranks' hash."""
    return TiktokenTokenizer(
        gpt2_tokenizer(), {"kind": "gpt2", "ranks_sha256": GPT2_RANKS_SHA256}, kind="gpt2"
    )


def encode(text: str) -> list[int]:
    """Token ids for a prompt; ``<|endoftext|>`` in the text is the special token."""
    return gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT})


def decode(token_ids: list[int]) -> str:
    return gpt2_tokenizer().decode(token_ids)
