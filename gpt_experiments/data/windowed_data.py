"""The data config group without Lightning: settings checked, the source read and tokenized
(through the content-keyed cache), split into train/val token streams and cut into
sliding windows of ``max_length`` tokens every ``stride`` tokens.

Text sources (text files, JSON Lines, Parquet, Hugging Face datasets) are tokenized into
the cache; pre-tokenized ones (llm.c shards, nanoGPT ``.bin``) are opened as they are.
Either way each split is one token stream, possibly over several shards.

Kept apart from :class:`~gpt_experiments.data.datamodule.GPTDataModule` (which adds the
loaders) so that the evaluate and prepare commands read data exactly as training does
without importing Lightning (seconds per process); the train command's checks read it here too.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gpt_experiments.data.file_digests import DIGESTS_FILE, FileDigests
from gpt_experiments.data.pretokenized import open_pretokenized
from gpt_experiments.data.sources import PRETOKENIZED_SOURCES, TEXT_SOURCES, TextSource, make_text_source
from gpt_experiments.data.splits import SPLIT_MODES
from gpt_experiments.data.token_cache import (
    SHARD_TOKENS,
    SplitSettings,
    TokenEncoder,
    load_or_tokenize,
    token_encoder,
)
from gpt_experiments.data.token_view import ConcatenatedTokens, first_tokens
from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.errors import ConfigError, DataError
from gpt_experiments.tokenizer import Tokenizer, build_tokenizer

# Python's codecs error handlers that turn bad bytes into text a tokenizer reads.
LENIENT_HANDLERS = ("replace", "ignore", "backslashreplace")


class WindowedData:
    """Next-token windows of ``max_length`` tokens every ``stride`` tokens, for both splits.

    Takes every key of ``conf/data`` (the loader settings too: they are checked here, with
    the rest, before anything is read).
    """

    def __init__(
        self,
        path: str | list[str] | None = None,
        source: str = "text",
        max_length: int = 256,
        stride: int = 256,
        batch_size: int = 2,
        train_ratio: float = 0.9,
        eval_train_batches: int = 5,
        num_workers: int = 0,
        cache_dir: str | None = None,
        encoding_errors: str = "strict",
        seed: int = 0,
        tokenize_workers: int | None = None,
        text_field: str = "text",
        split: str = "chars",
        split_seed: int = 0,
        val_tokens: int | None = None,
        shard_tokens: int = SHARD_TOKENS,
        dataset_name: str | None = None,
        dataset_config: str | None = None,
        dataset_split: str = "train",
        streaming: bool = False,
        train_files: str = "*train*.bin",
        val_files: str = "*val*.bin",
        tokenizer: Tokenizer | Mapping[str, Any] | None = None,
    ) -> None:
        """``tokenizer``: a :class:`Tokenizer`, a ``conf/tokenizer`` option or a saved tokenizer
        (None: GPT-2's); built on first use of :attr:`tokenizer`."""
        self.tokenizer_spec = tokenizer
        self.path = path
        self.max_length = max_length
        self.stride = stride
        self.batch_size = batch_size
        self.train_ratio = train_ratio
        self.eval_train_batches = eval_train_batches
        self.num_workers = num_workers
        self.cache_dir = cache_dir
        self.seed = seed
        self.tokenize_workers = tokenize_workers
        self.source = source
        self.source_options = dict(
            encoding_errors=encoding_errors,
            text_field=text_field,
            dataset_name=dataset_name,
            dataset_config=dataset_config,
            dataset_split=dataset_split,
            streaming=streaming,
        )
        self.split = split
        self.split_seed = split_seed
        self.val_tokens = val_tokens
        self.shard_tokens = shard_tokens
        self.train_files = train_files
        self.val_files = val_files
        self.tokens: dict[str, np.ndarray | ConcatenatedTokens] = {}
        self.validate()

    def validate(self) -> None:
        """Reject out-of-range settings before any file is read."""
        if not isinstance(self.max_length, int) or self.max_length <= 0:
            raise ConfigError(
                f"data.max_length={self.max_length!r} is invalid: it must be a positive integer"
            )
        if not isinstance(self.stride, int) or self.stride <= 0:
            raise ConfigError(
                f"data.stride={self.stride!r} is invalid: it must be a positive integer "
                "(stride = max_length gives non-overlapping windows)"
            )
        if not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise ConfigError(
                f"data.batch_size={self.batch_size!r} is invalid: it must be a positive integer"
            )
        if not 0 < self.train_ratio < 1:
            raise ConfigError(
                f"data.train_ratio={self.train_ratio} is invalid: it must be strictly between 0 and 1"
            )
        if self.eval_train_batches < 0:
            raise ConfigError(
                f"data.eval_train_batches={self.eval_train_batches} is invalid: it must be >= 0"
            )
        if self.source not in TEXT_SOURCES + PRETOKENIZED_SOURCES:
            raise ConfigError(
                f"data.source={self.source!r} is unknown: choose from "
                f"{', '.join(TEXT_SOURCES + PRETOKENIZED_SOURCES)}"
            )
        if self.split not in SPLIT_MODES:
            raise ConfigError(f"data.split={self.split!r} is unknown: choose from {', '.join(SPLIT_MODES)}")
        if self.val_tokens is not None and self.val_tokens <= 0:
            raise ConfigError(f"data.val_tokens={self.val_tokens} is invalid: it must be positive, or null")
        if self.shard_tokens <= 0:
            raise ConfigError(f"data.shard_tokens={self.shard_tokens} is invalid: it must be positive")
        if self.tokenize_workers is not None and self.tokenize_workers <= 0:
            raise ConfigError(
                f"data.tokenize_workers={self.tokenize_workers} is invalid: it must be positive, or null "
                "for one per CPU core"
            )
        check_encoding_errors(self.source_options["encoding_errors"])
        if self.stride > self.max_length:
            warnings.warn(
                f"data.stride={self.stride} > data.max_length={self.max_length}: "
                f"{self.stride - self.max_length} tokens between windows are never trained on",
                stacklevel=2,
            )

    def load_windows(self) -> None:
        """Read (or tokenize) the data and cut both splits into windows: every data error
        (unreadable text, too few tokens, fewer windows than a batch) comes out here."""
        self.train_set = self._windows("train")
        self.val_set = self._windows("val")
        if len(self.train_set) < self.batch_size:
            raise DataError(
                f"the train split has {len(self.train_set)} windows, fewer than data.batch_size="
                f"{self.batch_size}, so every batch would be dropped: lower data.batch_size or data.stride"
            )

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer; a ``char`` one without a saved vocabulary reads the corpus to build it."""
        return build_tokenizer(self.tokenizer_spec, corpus=lambda: self.text_source().stream())

    @property
    def encoder(self) -> TokenEncoder:
        return token_encoder(self.tokenizer)

    def text_source(self) -> TextSource:
        """The configured text source (not for pre-tokenized sources, which have no text)."""
        return make_text_source(self.source, self.path, **self.source_options)

    def load_tokens(self) -> dict[str, np.ndarray | ConcatenatedTokens]:
        if self.path is None and self.source != "huggingface":
            raise ConfigError(f"data.path is not set: pass data.path=... (the {self.source} files)")
        if self.source in PRETOKENIZED_SOURCES:
            vocab_size = self.tokenizer.vocab_size
            tokens = open_pretokenized(self.source, self.path, self.train_files, self.val_files, vocab_size)
        else:
            split = SplitSettings(self.split, self.train_ratio, self.split_seed)
            tokens = load_or_tokenize(
                self.text_source(),
                self.cache_dir,
                split,
                self.encoder,
                self.tokenize_workers,
                self.shard_tokens,
            )
        if self.val_tokens is not None:
            if len(tokens["val"]) < self.val_tokens:
                raise DataError(
                    f"the val split has {len(tokens['val'])} tokens, fewer than data.val_tokens="
                    f"{self.val_tokens}: lower data.val_tokens or raise the validation share"
                )
            # The same number of tokens scored whatever the corpus size: runs compare alike.
            tokens["val"] = first_tokens(tokens["val"], self.val_tokens)
        return tokens

    def content_digest(self) -> str | None:
        """The text's content fingerprint, the part of the token cache's key that the corpus sets
        (None for pre-tokenized files, which are read as they are). After the data is read, the
        cache's digest store answers it without reading a file again."""
        if self.source in PRETOKENIZED_SOURCES:
            return None
        store = Path(self.cache_dir) / DIGESTS_FILE if self.cache_dir is not None else None
        return self.text_source().fingerprint(FileDigests(store))

    def split_tokens(self, split: str) -> np.ndarray:
        """All tokens of ``split`` (``train`` or ``val``), tokenized (or read from the cache) if needed."""
        if not self.tokens:
            self.tokens = self.load_tokens()
        return self.tokens[split]

    def _windows(self, split: str) -> TokenWindows:
        tokens = self.split_tokens(split)
        windows = TokenWindows(tokens, self.max_length, self.stride)
        if len(windows) == 0:
            if self.source in PRETOKENIZED_SOURCES:  # the files are the split: no ratio to change
                files = getattr(self, f"{split}_files")
                fix = (
                    f"give {split} token files (data.{split}_files={files}) holding more tokens, "
                    "or a shorter model.context_length"
                )
            else:
                fix = "use more text, a shorter model.context_length or a different data.train_ratio"
            raise DataError(
                f"the {split} split has {len(tokens)} tokens, too few for one window of "
                f"max_length {self.max_length} (+1 target): {fix}"
            )
        return windows

    def num_tokens(self, split: str) -> int:
        return len(self.tokens[split])


def check_encoding_errors(handler: str) -> None:
    """``handler`` must be one of Python's codecs error handlers that decodes bad UTF-8 into
    text a tokenizer can read ("surrogateescape" leaves unpaired surrogates, which it cannot)."""
    if handler == "strict":
        return
    try:
        b"\xff".decode("utf-8", errors=handler).encode("utf-8")
    except (LookupError, TypeError, UnicodeError):
        raise ConfigError(
            f"data.encoding_errors={handler!r} is not one of Python's error handlers that decode bad UTF-8 "
            f"into text: use strict (stop at the first bad byte), {', '.join(LENIENT_HANDLERS)}"
        ) from None


def data_split_tokens(
    data: Mapping[str, Any], tokenizer: Tokenizer | Mapping[str, Any] | None, split: str = "val"
) -> np.ndarray:
    """The tokens of one split of a ``conf/data`` option, as training sees them (same split,
    same cache): the one way evaluation reads a data option, whatever its source."""
    if split not in ("train", "val"):
        raise ConfigError(f"split={split!r} is invalid: use val or train")
    return WindowedData(**data, tokenizer=tokenizer).split_tokens(split)
