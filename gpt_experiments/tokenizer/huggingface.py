"""A Hugging Face ``tokenizers`` JSON file (``tokenizer.json``) behind the :class:`Tokenizer` interface.

The saved form holds the JSON text itself, so a checkpoint decodes without the file.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpt_experiments.errors import ConfigError
from gpt_experiments.tokenizer.base import END_OF_TEXT, Tokenizer, read_tokenizer_file


@lru_cache(maxsize=1)
def byte_level_alphabet() -> dict[str, int]:
    """Byte-level BPE's printable stand-in character for each byte -> that byte (GPT-2's table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:  # unprintable bytes are moved past 255, in order
            chars[chr(256 + shifted)] = byte
            shifted += 1
    return chars


def without_special_tokens(json_text: str) -> str:
    """The tokenizer JSON with no special added tokens (nor ``<|endoftext|>``, however marked).

    Its encoding is a document's text read as text. (The library's ``encode_special_tokens``
    leaves ``<|endoftext|>`` a token where a file adds it as an ordinary token. Other ordinary
    added tokens stay: they are vocabulary, e.g. runs of spaces in code.)
    """
    spec = json.loads(json_text)
    spec["added_tokens"] = [
        token
        for token in spec.get("added_tokens") or []
        if not token.get("special") and token.get("content") != END_OF_TEXT
    ]
    return json.dumps(spec)


class HuggingFaceTokenizer(Tokenizer):
    kind = "huggingface"

    def __init__(self, json_text: str) -> None:
        from tokenizers import Tokenizer as HFTokenizer  # imported only when used

        try:
            self._tokenizer = HFTokenizer.from_str(json_text)
            self._ordinary = HFTokenizer.from_str(without_special_tokens(json_text))
        except Exception as err:  # the Rust side raises plain Exceptions
            raise ConfigError(
                f"the tokenizer JSON cannot be read ({err}): give a tokenizers JSON file"
            ) from None
        self._json = json_text
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self.eot_id = self._tokenizer.token_to_id(END_OF_TEXT)
        spec = json.loads(json_text)
        self._byte_level = (spec.get("decoder") or {}).get("type") == "ByteLevel"
        added = spec.get("added_tokens") or []
        self._special_ids = {token.get("id") for token in added if token.get("special")}
        # Added tokens match their content as plain text, outside the byte-level alphabet.
        self._added_text = {token.get("id"): token.get("content", "") for token in added}

    def encode(self, text: str) -> list[int]:
        # Split on <|endoftext|> here, so it is the end-of-text id whether or not the
        # file declares it a special token.
        ids: list[int] = []
        for index, piece in enumerate(text.split(END_OF_TEXT)):
            if index:
                if self.eot_id is None:
                    raise ConfigError(
                        f"the prompt holds {END_OF_TEXT} but the tokenizer has no such token: "
                        "add it to the tokenizer, or remove it from the prompt"
                    )
                ids.append(self.eot_id)
            if piece:
                ids.extend(self._tokenizer.encode(piece, add_special_tokens=False).ids)
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        return self._ordinary.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_ids or token_id == self.eot_id:
            return b""
        if token_id in self._added_text:
            return self._added_text[token_id].encode("utf-8")
        if self._byte_level:  # the token's characters stand for bytes (may be part of a character)
            alphabet = byte_level_alphabet()
            return bytes(alphabet[c] for c in self._tokenizer.id_to_token(token_id))
        return self._tokenizer.decode([token_id]).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self._json}


def huggingface_from_spec(spec: dict[str, Any]) -> HuggingFaceTokenizer:
    """From a config (``path`` to the JSON file) or a saved dict (``json``, the file's text)."""
    if spec.get("json") is not None:
        return HuggingFaceTokenizer(spec["json"])
    path = Path(str(spec.get("path") or ""))
    if not path.is_file():
        raise ConfigError(
            f"tokenizer.path={spec.get('path')!r} is not a file: give a Hugging Face tokenizer.json"
        )
    return HuggingFaceTokenizer(read_tokenizer_file(path, "utf-8", "Hugging Face tokenizer.json"))
