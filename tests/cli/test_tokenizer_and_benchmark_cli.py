"""End to end through the scripts: a char-level run on tiny Shakespeare that generates and is
scored with its own tokenizer, and evaluate.py with every conf/data option."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gpt_experiments.checkpoints.project import save_model
from gpt_experiments.cli import evaluate
from gpt_experiments.config import CONF_DIR, asset_path
from gpt_experiments.model import GPT, GPTConfig
from tests.data.test_sources import corpus_in
from tests.helpers import ROOT, TINY_RUN, run_script

SHAKESPEARE = Path(asset_path("tinyshakespeare.txt")).read_text(encoding="utf-8")
# Options that name their own (bundled) files; every other one reads the data tests' sample
# corpus in its format (tests/data/test_sources.py: corpus_in, which a new source extends).
BUNDLED = {"verdict", "tinyshakespeare"}
DATA_OPTIONS = sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml"))


@pytest.mark.slow
def test_char_tokenizer_trains_on_tiny_shakespeare_generates_and_is_scored(tmp_path):
    run = tmp_path / "run"
    steps = ["trainer.max_epochs=null", "trainer.max_steps=10", "trainer.limit_val_batches=4"]
    trained = run_script(
        "train.py",
        *TINY_RUN,
        *steps,
        "data=tinyshakespeare",
        "tokenizer=char",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]

    generated = run_script(
        "generate.py", f"ckpt={run}", "prompt=ROMEO:", "sampler.max_new_tokens=40", cwd=tmp_path
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    continuation = generated.stdout.removeprefix("ROMEO:").removesuffix("\n")
    assert generated.stdout.startswith("ROMEO:") and 0 < len(continuation) <= 40
    assert set(continuation) <= set(SHAKESPEARE)  # one character per token, all from the corpus

    # One ASCII document: one byte per token, so bits per byte is cross-entropy / ln 2.
    text = tmp_path / "excerpt.txt"
    text.write_text(SHAKESPEARE[:2000], encoding="utf-8")
    scored = run_script("evaluate.py", f"ckpt={run}", f"text_path={text}", "stride=16", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    result = json.loads(scored.stdout)
    assert result["tokenizer"] == "char" and result["tokens_scored"] == result["bytes_scored"] == 1999
    assert result["bits_per_byte"] == pytest.approx(result["cross_entropy"] / math.log(2), rel=1e-9)

    rows = [{"ctx": "ROMEO: I", "endings": ["am", "go", "see", "will"], "label": i % 4} for i in range(3)]
    hellaswag = tmp_path / "hellaswag.jsonl"
    hellaswag.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = run_script("evaluate.py", f"ckpt={run}", "task=hellaswag", f"path={hellaswag}", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr[-3000:]
    result = json.loads(bench.stdout)
    assert result["task"] == "hellaswag" and result["examples"] == 3
    assert result["acc"] in (0, 1 / 3, 2 / 3, 1) and result["acc_norm"] in (0, 1 / 3, 2 / 3, 1)


@pytest.fixture(scope="module")
def gpt2_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=50257, context_length=32, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)
    )
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.mark.parametrize("option", DATA_OPTIONS)
def test_every_data_option_passes_through_evaluate(gpt2_checkpoint, tmp_path, option, monkeypatch, capsys):
    settings = {} if option in BUNDLED else corpus_in(option, tmp_path)
    inputs = [f"data.{key}={value}" for key, value in settings.items() if key != "source"]
    monkeypatch.setenv("GPT_EXPERIMENTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    # conf/evaluate.yaml with these overrides, handed to the script's own entry point in this
    # process (Hydra's main takes a composed config): no Python start-up per option.
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "evaluate", overrides=[f"ckpt={gpt2_checkpoint}", f"data={option}", *inputs, "limit=300"]
        )
    evaluate.main(cfg)
    scores = json.loads(capsys.readouterr().out)
    assert scores["split"] == "val" and scores["tokenizer"] == "gpt2" and 0 < scores["tokens_scored"] <= 299
    assert scores["bits_per_byte"] > 0
