"""scripts/prepare_data.py: a corpus -> llm.c shards a user can train on, here or in llm.c."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpt_experiments.config import asset_path
from gpt_experiments.data.shards import open_shard
from gpt_experiments.tokenizer import encode
from tests.helpers import run_script


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
