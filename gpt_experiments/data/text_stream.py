"""Streaming a corpus of text files without holding it in memory.

The corpus is the files' text joined with ``<|endoftext|>``. Everything here reads
files in blocks, so memory stays flat however many gigabytes the files hold.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import END_OF_TEXT

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
                raise DataError(
                    f"{path} is not UTF-8 (byte {byte}: {err.object[err.start : err.start + 1]!r}): {fix}"
                ) from None
            if text:
                yield text
            if not block:
                return
            offset += len(block)


def corpus_text(files: list[Path], encoding_errors: str = "strict") -> Iterator[str]:
    """The corpus as a stream of text pieces: each file's blocks, ``<|endoftext|>`` between files."""
    for index, path in enumerate(files):
        if index:
            yield END_OF_TEXT
        yield from read_blocks(path, encoding_errors)


def count_chars(pieces: Iterable[str]) -> int:
    return sum(len(piece) for piece in pieces)


def split_at(pieces: Iterable[str], position: int) -> Iterator[tuple[int, str]]:
    """Tag each piece with 0 before character ``position`` of the stream and 1 from it on."""
    seen = 0
    for piece in pieces:
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
