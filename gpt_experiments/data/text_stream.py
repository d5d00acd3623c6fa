"""Streaming a corpus of text files without holding it in memory.

The corpus is a stream of pieces: its documents' text, with a :data:`DOCUMENT_BREAK` (not
text: the tokenizer's separator id) between two documents. Everything here reads files in
blocks, so memory stays flat however many gigabytes the files hold.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import DOCUMENT_BREAK, CorpusPiece

BLOCK_BYTES = 1 << 22  # 4 MiB reads

# A chunk may end where a non-space character is followed by a space or newline.
# GPT-2's pre-tokenizer never joins such a pair into one piece, and the whitespace that
# starts the next chunk is split the same way with or without the text before it, so
# tokenizing chunks one by one gives exactly the tokens of the whole text. (Ending a
# chunk *inside* a whitespace run is not safe: "\n\n" at the end of a text is one
# piece, but two when more text follows.)
SAFE_CUT = re.compile(r"(?<=\S)[ \n]")


# What to do about a file that is not UTF-8: training data may also be decoded leniently.
TRAINING_FIX = "convert it, or set data.encoding_errors=replace"


def not_utf8(path: Path, where: str, bad: bytes, fix: str) -> DataError:
    return DataError(f"{path} is not UTF-8 ({where}: {bad!r}): {fix}")


def read_blocks(path: Path, encoding_errors: str = "strict", fix: str = TRAINING_FIX) -> Iterator[str]:
    """Decoded UTF-8 text of ``path`` in blocks; a decoding error names the file, the byte and ``fix``."""
    # utf-8-sig drops a byte order mark at the start (Windows editors write one), which
    # would otherwise become a token; elsewhere it decodes exactly as utf-8.
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors=encoding_errors)
    offset = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK_BYTES)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                # err.object is the decoder's pending bytes followed by this block.
                byte = offset - (len(err.object) - len(block)) + err.start
                raise not_utf8(path, f"byte {byte}", err.object[err.start : err.start + 1], fix) from None
            if text:
                yield text
            if not block:
                return
            offset += len(block)


def read_lines(
    path: Path, encoding_errors: str = "strict", fix: str = TRAINING_FIX
) -> Iterator[tuple[int, str]]:
    """``(line number, decoded line)`` of a line-based file (JSON Lines); a line that is not
    UTF-8 names the file, the line and the byte, and ``fix``."""
    offset = 0
    with open(path, "rb") as f:
        # Split as bytes: a newline byte never occurs inside a multi-byte UTF-8 character.
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors=encoding_errors)
            except UnicodeDecodeError as err:
                where = f"line {number}, byte {offset + err.start}"
                raise not_utf8(path, where, raw[err.start : err.start + 1], fix) from None
            offset += len(raw)
            yield number, line


def corpus_text(files: list[Path], encoding_errors: str = "strict") -> Iterator[CorpusPiece]:
    """The corpus as a stream: each file's blocks, a document break between files."""
    for index, path in enumerate(files):
        if index:
            yield DOCUMENT_BREAK
        yield from read_blocks(path, encoding_errors)


def text_length(piece: CorpusPiece) -> int:
    """Characters of text in ``piece``: a document break has none."""
    return len(piece) if isinstance(piece, str) else 0


def count_chars(pieces: Iterable[CorpusPiece]) -> int:
    return sum(text_length(piece) for piece in pieces)


def split_at(pieces: Iterable[CorpusPiece], position: int) -> Iterator[tuple[int, CorpusPiece]]:
    """Tag each piece with 0 before character ``position`` of the text and 1 from it on.

    Only text is cut, so the separator stays whole: a break at ``position`` itself is dropped,
    which leaves each split's stream with breaks between its documents only.
    """
    seen = 0
    for piece in pieces:
        if not isinstance(piece, str):
            if seen != position:
                yield int(seen > position), piece
            continue
        cut = min(max(position - seen, 0), len(piece))
        if cut:
            yield 0, piece[:cut]
        if cut < len(piece):
            yield 1, piece[cut:]
        seen += len(piece)


def safe_chunks(pieces: Iterable[str], min_chars: int) -> Iterator[str]:
    """Regroup a text stream into chunks of about ``min_chars`` that tokenize independently.

    Each chunk but the last ends at a :data:`SAFE_CUT`; a stretch with no safe cut (one
    endless word) stays whole however long it is.
    """
    buffer = ""
    for piece in pieces:
        # What the buffer already held past min_chars had no safe cut: scan only the new text.
        scan_from = max(min_chars, len(buffer))
        buffer += piece
        while len(buffer) > min_chars and (cut := SAFE_CUT.search(buffer, scan_from)):
            yield buffer[: cut.start()]
            buffer = buffer[cut.start() :]
            scan_from = min_chars
    if buffer:
        yield buffer


def corpus_chunks(pieces: Iterable[CorpusPiece], min_chars: int) -> Iterator[list[CorpusPiece]]:
    """Regroup a corpus stream into lists of about ``min_chars`` characters that tokenize independently.

    Each document's text is cut by :func:`safe_chunks` (a break between documents is always
    a safe cut: each document is tokenized on its own). Short documents share a list, so a
    corpus of many small records still makes few, large tokenizing tasks.
    """
    chunk: list[CorpusPiece] = []
    chars = 0
    for is_text, run in groupby(pieces, key=lambda piece: isinstance(piece, str)):
        for piece in safe_chunks(run, min_chars) if is_text else run:
            chunk.append(piece)
            chars += text_length(piece)
            if chars >= min_chars:
                yield chunk
                chunk, chars = [], 0
    if chunk:
        yield chunk
