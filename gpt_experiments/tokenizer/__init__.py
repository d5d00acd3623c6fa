"""Tokenizers behind one interface (:class:`Tokenizer`): GPT-2's BPE (the default, offline),
any tiktoken ranks file, a Hugging Face ``tokenizers`` JSON file, and characters.

``encode``/``decode``/``gpt2_tokenizer`` are GPT-2's, kept for code that only knows GPT-2
(``encode`` reads a prompt: ``<|endoftext|>`` typed in it is the token).
"""

from gpt_experiments.tokenizer.base import DOCUMENT_BREAK, END_OF_TEXT, CorpusPiece, DocumentBreak, Tokenizer
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
    "DOCUMENT_BREAK",
    "END_OF_TEXT",
    "END_OF_TEXT_ID",
    "GPT2_RANKS_SHA256",
    "KINDS",
    "CorpusPiece",
    "DocumentBreak",
    "Tokenizer",
    "build_tokenizer",
    "decode",
    "encode",
    "gpt2",
    "gpt2_tokenizer",
]
