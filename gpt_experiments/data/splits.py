"""Train/validation splits of a text stream, as tagged pieces (0: train, 1: validation).

``chars``: the stream (the documents, a break between two) is cut at ``train_ratio`` of its
text's characters, as the seed cuts its one text; the last part is validation. Breaks hold
no characters, so the cut never falls inside a separator, and one document splits as the seed's.
``documents``: each document goes to validation with probability ``1 - train_ratio``,
drawn from a generator seeded by ``split_seed`` alone, so every run (and every training
seed) scores the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby

import numpy as np

from gpt_experiments.data.text_stream import corpus_chunks, split_at
from gpt_experiments.tokenizer import DOCUMENT_BREAK, CorpusPiece

SPLITS = ("train", "val")
SPLIT_MODES = ("chars", "documents")
DRAW_BLOCK = 1 << 16  # random draws made at a time


def split_by_chars(
    stream: Iterable[CorpusPiece], total_chars: int, train_ratio: float
) -> Iterator[tuple[int, CorpusPiece]]:
    return split_at(stream, int(train_ratio * total_chars))


def validation_draws(split_seed: int, val_fraction: float) -> Iterator[bool]:
    """An endless seeded sequence: True for a document that goes to validation."""
    rng = np.random.default_rng(split_seed)
    while True:
        yield from (rng.random(DRAW_BLOCK) < val_fraction).tolist()


def split_by_documents(
    documents: Iterable[str], train_ratio: float, split_seed: int
) -> Iterator[tuple[int, CorpusPiece]]:
    """Each document tagged with its split; a break between documents of the same split."""
    started = [False, False]
    for document, to_val in zip(documents, validation_draws(split_seed, 1 - train_ratio), strict=False):
        split = int(to_val)
        if started[split]:
            yield split, DOCUMENT_BREAK
        started[split] = True
        yield split, document


def tagged_chunks(
    tagged: Iterable[tuple[int, CorpusPiece]], min_chars: int
) -> Iterator[tuple[int, list[CorpusPiece]]]:
    """Regroup tagged pieces into chunks that tokenize independently (see ``corpus_chunks``).

    A run of one split's pieces ends at a document boundary or at the character cut, so
    chunking each run on its own gives each split's tokens exactly.
    """
    for split, run in groupby(tagged, key=lambda item: item[0]):
        for chunk in corpus_chunks((piece for _, piece in run), min_chars):
            yield split, chunk
