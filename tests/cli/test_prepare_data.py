"""scripts/prepare_data.py: a corpus -> llm.c shards a user can train on, here or in llm.c."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpt_experiments.config import asset_path
from gpt_experiments.data.shards import open_shard
from gpt_experiments.tokenizer import END_OF_TEXT, KINDS, Tokenizer, build_tokenizer, encode
from gpt_experiments.tokenizer.char import CharTokenizer
from tests.helpers import run_script
from tests.helpers.killed import run_killed
from tests.tokenizer.sample_files import write_huggingface_json, write_ranks_file


@pytest.mark.slow
def test_prepare_writes_llmc_shards_and_refuses_to_overwrite(tmp_path):
    done = run_script("prepare_data.py", "data=verdict", "out_dir=out", "shard_tokens=1000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["train"]["tokens"], report["val"]["tokens"], report["dtype"]) == (4_612, 534, "uint16")
    assert [f.split("/")[-1] for f in report["train"]["files"]] == [f"train_{i:06d}.bin" for i in range(5)]
    assert "tokenizing" in done.stderr  # the progress bar
    text = Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    train = np.concatenate([open_shard(tmp_path / f) for f in report["train"]["files"]])
    assert train.tolist() == encode(text[:cut])
    assert open_shard(tmp_path / report["val"]["files"][0]).tolist() == encode(text[cut:])

    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    again = run_script("prepare_data.py", "data=verdict", "out_dir=out", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == (
        "error: out already holds train_000000.bin: choose an empty out_dir or delete its .bin files"
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


# A document that quotes the separator's text, as a web page or a code file may.
QUOTING = "It was written <|endoftext|> in"
# GPT-2's encode_ordinary, as llm.c and nanoGPT tokenize it: " <", "|", "end", "of", "text", "|", ">".
QUOTING_IDS = [1026, 373, 3194, 1279, 91, 437, 1659, 5239, 91, 29, 287]
DOCUMENTS = [QUOTING, "the second document.", "the third document."]


def tokenizer_settings(kind: str, folder: Path) -> tuple[list[str], Tokenizer]:
    """prepare_data.py's ``tokenizer=`` overrides for ``kind`` and the tokenizer they make."""
    if kind == "gpt2":
        return ["tokenizer=gpt2"], build_tokenizer({"kind": "gpt2"})
    if kind == "char":  # built from the corpus, as prepare_data.py builds it
        return ["tokenizer=char"], CharTokenizer.from_corpus(DOCUMENTS)
    if kind == "tiktoken":
        path = write_ranks_file(folder / "ranks.tiktoken")
        spec = {"kind": "tiktoken", "path": str(path), "special_tokens": {END_OF_TEXT: None}}
    else:
        path = write_huggingface_json(folder / "tokenizer.json", " ".join(DOCUMENTS) * 20)
        spec = {"kind": "huggingface", "path": str(path)}
    return [f"tokenizer={kind}", f"tokenizer.path={path}"], build_tokenizer(spec)


def exported_tokens(report: dict, folder: Path) -> dict[str, list[int]]:
    return {
        split: np.concatenate([open_shard(folder / f) for f in report[split]["files"]]).tolist()
        for split in ("train", "val")
    }


def documents_between(ids: list[int], separator: int) -> list[list[int]]:
    """``ids`` cut at each separator id (an empty split has no document)."""
    if not ids:
        return []
    pieces: list[list[int]] = [[]]
    for token in ids:
        if token == separator:
            pieces.append([])
        else:
            pieces[-1].append(token)
    return pieces


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "source"), [(k, "jsonl") for k in KINDS] + [("gpt2", "text")])
def test_a_document_quoting_the_separator_is_exported_as_its_text(tmp_path, kind, source):
    """Text is never read as a control token: the separator's id appears once per boundary only."""
    if source == "jsonl":
        path = tmp_path / "docs.jsonl"
        path.write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCUMENTS), encoding="utf-8")
    else:
        path = tmp_path / "docs"
        path.mkdir()
        for index, document in enumerate(DOCUMENTS):
            (path / f"{index}.txt").write_text(document, encoding="utf-8")
    overrides, tokenizer = tokenizer_settings(kind, tmp_path)
    done = run_script(
        "prepare_data.py",
        f"data={source}",
        f"data.path={path}",
        "data.split=documents",
        "data.train_ratio=0.5",
        *overrides,
        "out_dir=out",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    tokens = exported_tokens(json.loads(done.stdout), tmp_path)
    documents = [d for ids in tokens.values() for d in documents_between(ids, tokenizer.eot_id)]
    assert sorted(tokenizer.decode(ids) for ids in documents) == sorted(DOCUMENTS)
    assert sorted(documents) == sorted(tokenizer.encode_ordinary(d) for d in DOCUMENTS)
    if kind == "gpt2":
        assert QUOTING_IDS in documents


# Twenty short records: 200 characters. Joined with the separator's 13 characters, 90% of
# them (402) fell inside the separator after record 17; the documents' 90% (180) is its end.
RECORDS = [f"record {index:02d}." for index in range(20)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gpt2", "char"])
def test_a_character_split_never_cuts_a_separator(tmp_path, kind):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps({"text": r}) + "\n" for r in RECORDS), encoding="utf-8")
    tokenizer = build_tokenizer({"kind": "gpt2"}) if kind == "gpt2" else CharTokenizer.from_corpus(RECORDS)
    done = run_script(
        "prepare_data.py", "data=jsonl", f"data.path={path}", f"tokenizer={kind}", "out_dir=out", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    tokens = exported_tokens(json.loads(done.stdout), tmp_path)

    def joined(records: list[str]) -> list[int]:
        ids = [tokenizer.encode_ordinary(r) + [tokenizer.eot_id] for r in records]
        return [token for piece in ids for token in piece][:-1]

    assert tokens == {"train": joined(RECORDS[:18]), "val": joined(RECORDS[18:])}


@pytest.mark.slow
def test_prepare_killed_mid_export_leaves_no_token_file_and_the_rerun_writes_them_all(tmp_path):
    args = ["data=verdict", "out_dir=out", "shard_tokens=1000"]
    # Killed once the token cache's 2 shards and 3 of the export's 5 train shards are complete:
    # none may be in out/, where training would read a part of the corpus and a rerun would
    # refuse the folder.
    run_killed("prepare_data.py", "gpt_experiments.data.shards:ShardWriter._close", 5, *args, cwd=tmp_path)
    assert not list(tmp_path.glob("out/*.bin"))

    done = run_script("prepare_data.py", *args, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [*(f"train_{i:06d}.bin" for i in range(5)), "val_000000.bin"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the killed run's build


@pytest.mark.slow
def test_a_tokenization_killed_mid_entry_is_rebuilt_and_its_folder_removed(tmp_path):
    args = ["data=verdict", "out_dir=out"]
    # Killed once the cache entry's train shard is complete, before its val shard and manifest.
    run_killed("prepare_data.py", "gpt_experiments.data.shards:ShardWriter._close", 1, *args, cwd=tmp_path)
    assert not list(tmp_path.glob("cache/*/tokens.json"))

    done = run_script("prepare_data.py", *args, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "tokenizing" in done.stderr  # the half-written entry was not taken for one
    # The killed tokenization's folder (a corpus's tokens) is gone, not kept beside the entry.
    [entry] = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [entry.name, "file_digests.json"]
