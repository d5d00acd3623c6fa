"""Remembered file digests: a hit reads no corpus file, any change to a file is still seen."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from gpt_experiments.data import file_digests
from gpt_experiments.data.file_digests import DIGESTS_FILE, FileDigests, files_digest
from gpt_experiments.data.sources.text_files import TextFiles
from gpt_experiments.data.token_cache import load_or_tokenize
from gpt_experiments.errors import DataError

HOUR_NS = 3600 * 10**9


def write_old(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    """Write ``text`` and date the file an hour back (or to ``mtime_ns``): past the racy window."""
    path.write_text(text, encoding="utf-8")
    when = mtime_ns if mtime_ns is not None else time.time_ns() - HOUR_NS
    os.utime(path, ns=(when, when))
    return path


@pytest.fixture
def hashes(monkeypatch) -> list[Path]:
    """Every file hashed from here on, in order."""
    hashed: list[Path] = []
    real = file_digests.hash_file

    def counting(path: Path):
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(file_digests, "hash_file", counting)
    return hashed


def test_an_unchanged_file_is_not_read_again_and_the_digest_is_its_sha256(tmp_path, hashes):
    corpus = write_old(tmp_path / "a.txt", "some text")
    store = tmp_path / DIGESTS_FILE
    first = FileDigests(store)
    assert first.of(corpus).sha256 == hashlib.sha256(b"some text").hexdigest()
    first.save()
    again = FileDigests(store)  # another process, later
    assert again.of(corpus) == first.of(corpus)
    assert hashes == [corpus]


def test_a_changed_or_replaced_file_is_hashed_again(tmp_path, hashes):
    corpus = write_old(tmp_path / "a.txt", "some text")
    store = tmp_path / DIGESTS_FILE
    digests = FileDigests(store)
    before = digests.of(corpus).sha256
    digests.save()
    # Edited in place, same size: a new modification time.
    write_old(corpus, "SOME TEXT", mtime_ns=time.time_ns() - HOUR_NS // 2)
    edited = FileDigests(store).of(corpus).sha256
    assert edited == hashlib.sha256(b"SOME TEXT").hexdigest() != before
    # Replaced by a file of the same size and even the same time (cp -p, rsync -t): a new inode.
    stat = corpus.stat()
    replacement = write_old(tmp_path / "b.txt", "Some Text", mtime_ns=stat.st_mtime_ns)
    os.replace(replacement, corpus)
    assert FileDigests(store).of(corpus).sha256 == hashlib.sha256(b"Some Text").hexdigest()
    assert len(hashes) == 3


def test_a_file_changed_moments_before_it_was_hashed_is_hashed_until_it_is_older(tmp_path, hashes):
    corpus = tmp_path / "a.txt"
    corpus.write_text("fresh", encoding="utf-8")  # just now: a coarse clock could hide an edit
    store = tmp_path / DIGESTS_FILE

    def look_twice() -> None:
        for _ in range(2):
            digests = FileDigests(store)
            digests.of(corpus)
            digests.save()

    look_twice()
    assert len(hashes) == 2  # too recent to trust: hashed both times
    write_old(corpus, "fresh")  # last changed an hour before it is next hashed
    look_twice()
    assert len(hashes) == 3  # its stat changed: hashed once more, then trusted


def test_settings_order_and_empty_files_change_or_stop_the_combined_digest(tmp_path):
    a, b = write_old(tmp_path / "a.txt", "ab"), write_old(tmp_path / "b.txt", "c")
    assert files_digest([a, b], "x") != files_digest([b, a], "x") != files_digest([a, b], "y")
    blank = write_old(tmp_path / "blank.txt", " \n ")
    files_digest([a, blank], "x")  # JSON Lines and Parquet files are checked by their readers
    with pytest.raises(DataError, match="blank.txt is empty: give a file with text in it"):
        files_digest([a, blank], "x", require_text=True)


def test_a_cache_hit_reads_no_corpus_file(tmp_path, hashes):
    corpus = write_old(tmp_path / "story.txt", "Every effort moves you. " * 200)
    cache = tmp_path / "cache"
    missed = load_or_tokenize(TextFiles(str(corpus)), cache)
    hit = load_or_tokenize(TextFiles(str(corpus)), cache)
    assert hashes == [corpus]
    assert all((missed[s] == hit[s]).all() for s in ("train", "val"))
    write_old(corpus, "Every effort moves me. " * 200)
    changed = load_or_tokenize(TextFiles(str(corpus)), cache)
    assert len(hashes) == 2 and list(changed["train"]) != list(hit["train"])


def test_digests_that_cannot_be_read_or_written_only_cost_a_hash(tmp_path, hashes):
    corpus = write_old(tmp_path / "story.txt", "Every effort moves you. " * 200)
    cache = tmp_path / "cache"
    expected = load_or_tokenize(TextFiles(str(corpus)), cache)
    (cache / DIGESTS_FILE).unlink()
    (cache / DIGESTS_FILE).mkdir()  # neither readable nor replaceable as a file (even by root)
    tokens = load_or_tokenize(TextFiles(str(corpus)), cache)
    assert list(tokens["train"]) == list(expected["train"]) and len(hashes) == 2
    assert sorted(p.name for p in cache.iterdir() if p.is_file()) == []  # no staging file left
