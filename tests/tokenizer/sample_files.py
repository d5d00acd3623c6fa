"""Small tokenizer files written by the tests: a tiktoken ranks file and a Hugging Face JSON."""

from __future__ import annotations

import base64
from pathlib import Path

# Merges on top of the 256 single bytes: "th", "he", "the", " the".
MERGES = [b"th", b"he", b"the", b" the"]


def write_ranks_file(path: Path) -> Path:
    """Every single byte (so any text encodes) plus :data:`MERGES`, in the ``.tiktoken`` format."""
    tokens = [bytes([b]) for b in range(256)] + MERGES
    path.write_text("".join(f"{base64.b64encode(t).decode()} {rank}\n" for rank, t in enumerate(tokens)))
    return path


def write_huggingface_json(path: Path, corpus: str, vocab_size: int = 300) -> Path:
    """A byte-level BPE trained on ``corpus`` with ``<|endoftext|>`` as a special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([corpus], trainer)
    tokenizer.save(str(path))
    return path
