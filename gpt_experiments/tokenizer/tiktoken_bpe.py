"""Byte-level BPE through tiktoken: GPT-2's bundled encoding, or any ranks file.

A ranks file (the ``.tiktoken`` format) has one ``<base64 token bytes> <rank>`` per line.
The saved form holds the file's text itself, so a checkpoint decodes without the file.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import tiktoken

from gpt_experiments.errors import ConfigError
from gpt_experiments.tokenizer.base import END_OF_TEXT, Tokenizer, read_tokenizer_file

# Same pre-tokenisation regex as tiktoken's gpt2 / r50k_base encoding.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class TiktokenTokenizer(Tokenizer):
    def __init__(self, encoding: tiktoken.Encoding, spec: dict[str, Any], kind: str = "tiktoken") -> None:
        self.encoding = encoding
        self.kind = kind
        self._spec = spec
        self.vocab_size = encoding.n_vocab
        specials = encoding.special_tokens_set
        self.eot_id = encoding.encode_single_token(END_OF_TEXT) if END_OF_TEXT in specials else None
        self._special_ids = {encoding.encode_single_token(token) for token in specials}

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode(text, allowed_special="all", disallowed_special=())

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(ids)

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_ids:
            return b""
        return self.encoding.decode_single_token_bytes(token_id)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)


def parse_ranks(text: str, source: str) -> dict[bytes, int]:
    """``{token bytes: rank}`` from a ranks file's text; a malformed line is a one-line error."""
    ranks = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise ConfigError(
                f"{source} line {number} is not '<base64 token> <rank>': give a tiktoken ranks file"
            ) from None
    if not ranks:
        raise ConfigError(f"{source} holds no ranks: give a tiktoken ranks file")
    # Byte-level BPE starts from single bytes: tiktoken's core panics on a byte it has no rank for.
    missing = [byte for byte in range(256) if bytes([byte]) not in ranks]
    if missing:
        raise ConfigError(
            f"{source} has no rank for {len(missing)} of the 256 single bytes (the first: "
            f"{bytes(missing[:1])!r}): byte-level BPE needs every byte; give a complete tiktoken ranks file"
        )
    return ranks


def tiktoken_from_spec(spec: dict[str, Any]) -> TiktokenTokenizer:
    """From a config (``path`` to a ranks file) or a saved dict (``ranks``, the file's text).

    ``special_tokens`` maps a token's text to its id; a null id takes the next free one
    after the ranks, in the order given.
    """
    if spec.get("ranks") is None:
        path = Path(str(spec.get("path") or ""))
        if not path.is_file():
            raise ConfigError(
                f"tokenizer.path={spec.get('path')!r} is not a file: give the tiktoken ranks file"
            )
        spec = {**spec, "ranks": read_tokenizer_file(path, "ascii", "tiktoken ranks")}
    ranks = parse_ranks(spec["ranks"], str(spec.get("path") or "the saved tiktoken ranks"))
    special_tokens, next_id = {}, max(ranks.values()) + 1
    for text, token_id in (spec.get("special_tokens") or {}).items():
        special_tokens[text] = next_id if token_id is None else int(token_id)
        next_id = max(next_id, special_tokens[text] + 1)
    pattern = spec.get("pattern") or GPT2_PATTERN
    try:
        encoding = tiktoken.Encoding(
            name="custom", pat_str=pattern, mergeable_ranks=ranks, special_tokens=special_tokens
        )
    except ValueError as err:
        raise ConfigError(f"the tiktoken ranks and special tokens do not fit together: {err}") from None
    saved = {"kind": "tiktoken", "ranks": spec["ranks"], "pattern": pattern, "special_tokens": special_tokens}
    return TiktokenTokenizer(encoding, saved)
