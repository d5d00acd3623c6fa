"""Document splits are seeded and disjoint; data.val_tokens fixes the validation budget."""

from __future__ import annotations

import numpy as np
import pytest

from gpt_experiments.config import asset_path
from gpt_experiments.data.datamodule import GPTDataModule
from gpt_experiments.data.splits import split_by_documents
from gpt_experiments.errors import DataError
from gpt_experiments.tokenizer import DOCUMENT_BREAK, END_OF_TEXT, decode
from tests.data.corpora import DOCUMENTS as CORPUS
from tests.data.corpora import write_jsonl

DOCUMENTS = [f"document number {index}." for index in range(1_000)]


def documents_per_split(seed: int) -> tuple[set[str], set[str]]:
    tagged = list(split_by_documents(DOCUMENTS, 0.9, seed))
    for split in (0, 1):  # a break between two documents of a split, never at its ends
        pieces = [piece for tag, piece in tagged if tag == split]
        assert pieces[1::2] == [DOCUMENT_BREAK] * (len(pieces) // 2) and len(pieces) % 2
    train, val = (
        {piece for tag, piece in tagged if tag == split and piece is not DOCUMENT_BREAK} for split in (0, 1)
    )
    return train, val


def test_document_split_is_seeded_disjoint_and_about_ten_percent():
    train, val = documents_per_split(seed=0)
    assert train.isdisjoint(val) and train | val == set(DOCUMENTS)
    assert 70 <= len(val) <= 130  # Binomial(1000, 0.1): mean 100, sd 9.5
    assert documents_per_split(seed=0) == (train, val)
    assert documents_per_split(seed=1)[1] != val


def test_document_split_through_the_data_module(tmp_path):
    settings = dict(source="jsonl", path=str(write_jsonl(tmp_path / "docs.jsonl")), split="documents")
    module = GPTDataModule(**settings, train_ratio=0.5, split_seed=3, max_length=8, stride=8)
    module.setup("fit")
    decoded = {
        name: set(decode(np.asarray(t).tolist()).split(END_OF_TEXT))
        for name, t in module.windows.tokens.items()
    }
    expected = [set(), set()]
    for split, piece in split_by_documents(CORPUS, 0.5, 3):
        if piece is not DOCUMENT_BREAK:
            expected[split].add(piece)
    assert decoded == {"train": expected[0], "val": expected[1]}
    assert decoded["train"] and decoded["val"] and decoded["train"].isdisjoint(decoded["val"])


def test_val_tokens_caps_validation_to_its_first_tokens(tmp_path):
    settings = dict(path=asset_path("the-verdict.txt"), max_length=16, stride=16, cache_dir=str(tmp_path))
    full = GPTDataModule(**settings)
    capped = GPTDataModule(**settings, val_tokens=100)
    for module in (full, capped):
        module.setup("fit")
    assert len(full.windows.tokens["val"]) == 534  # the verdict's last 10% of characters
    assert len(capped.windows.tokens["val"]) == 100
    assert np.array_equal(capped.windows.tokens["val"], full.windows.tokens["val"][:100])
    assert len(capped.windows.val_set) == (100 - 16 - 1) // 16 + 1  # windows come from the 100 tokens only
    assert np.array_equal(capped.windows.tokens["train"], full.windows.tokens["train"])
    with pytest.raises(DataError, match=r"the val split has \d+ tokens, fewer than data.val_tokens=100000"):
        GPTDataModule(**settings, val_tokens=100_000).setup("fit")
