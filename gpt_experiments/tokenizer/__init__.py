"""Tokenizers behind one interface (:class:`Tokenizer`): GPT-2's BPE (the default, offline),
any tiktoken ranks file, a Hugging Face ``tokenizers`` JSON file, and characters.

``encode``/``decode``/``gpt2_tokenizer`` are GPT-2's, kept for code that only knows GPT-2.
"""

from gpt_experiments.tokenizer.base import END_OF_TEXT, Tokenizer
from gpt_experiments.tokenizer.build import KINDS, build_tokenizer
from gpt_experiments.tokenizer.gpt2 import (
    END_OF_TEXT_ID,
    GPT2_RANKS_SHA256,
    decode,
    encode,
    gpt2,
    gpt2_tokenizer,
)

__all__ = [
    "END_OF_TEXT",
    "END_OF_TEXT_ID",
    "GPT2_RANKS_SHA256",
    "KINDS",
    "Tokenizer",
    "build_tokenizer",
    "decode",
    "encode",
    "gpt2",
    "gpt2_tokenizer",
]
