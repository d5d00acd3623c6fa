"""The chapter's training run: its schedule, evaluation and files, and the project overlays it mirrors."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from benchmarks.chapter_baseline import ChapterGPT, WindowDataset, batch_loss
from benchmarks.chapter_repro import CHAPTER_MODEL, ChapterRunSettings, evaluate, run_into, split_tokens
from benchmarks.repro_seeds import OVERLAYS
from benchmarks.seed_distribution import compare
from gpt_experiments.config import asset_path
from gpt_experiments.model import GPTConfig
from gpt_experiments.run_folder.history import HISTORY_FIELDS
from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.tokenizer import build_tokenizer
from gpt_experiments.training.config_checks import model_settings

TINY = GPTConfig(context_length=32, emb_dim=24, n_heads=3, n_layers=2, drop_rate=0.1, qkv_bias=False)
# Evaluated after both steps, on one batch per split to keep the test quick.
TWO_STEPS = ChapterRunSettings(seed=7, max_steps=2, eval_every=1, first_eval_step=1, eval_batches=1)


@pytest.fixture(scope="module")
def verdict() -> str:
    return Path(asset_path("the-verdict.txt")).read_text(encoding="utf-8")


def test_split_is_by_characters_then_tokenized_per_part(verdict):
    train_ids, val_ids = split_tokens(verdict, 0.9)
    # DESIGN.md: 5,145 tokens in all; cutting mid-word can add a token or two at the seam.
    assert 5145 <= len(train_ids) + len(val_ids) <= 5147
    # DESIGN.md: 9 training batches of [2, 256] and 1 validation batch (512 tokens: 2 windows).
    assert len(WindowDataset(train_ids, 256, 256)) // 2 == 9
    assert len(WindowDataset(val_ids, 256, 256)) == 2


def test_two_steps_write_a_history_that_the_compare_tools_read(tmp_path, verdict):
    run_dir = tmp_path / "lr4e-4" / "chapter" / "seed_7"
    rows = run_into(TWO_STEPS, TINY, verdict, run_dir)
    with open(run_dir / "history.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert tuple(written[0]) == HISTORY_FIELDS
    assert [int(r["step"]) for r in written] == [1, 2]
    assert [int(r["tokens_seen"]) for r in written] == [64, 128]  # batch 2 x 32 tokens per step
    assert float(written[1]["val_loss"]) == pytest.approx(rows[1]["val_loss"])
    assert 9 < rows[0]["train_loss"] < 12  # near ln(50257) = 10.8 before any learning
    comparison = compare(tmp_path, ["lr4e-4"], [2])
    assert comparison[0].spreads["chapter"].values == (rows[1]["train_loss"],)
    records, _ = compare_runs(tmp_path)
    assert [(r.status, r.overrides) for r in records] == [("ok", TWO_STEPS.overrides())]


def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path, verdict):
    one_step = replace(TWO_STEPS, max_steps=1)
    first = run_into(one_step, TINY, verdict, tmp_path / "a")
    again = run_into(one_step, TINY, verdict, tmp_path / "b")
    other = run_into(replace(one_step, seed=8), TINY, verdict, tmp_path / "c")
    assert first == again
    assert first[0]["val_loss"] != other[0]["val_loss"]


def test_evaluation_is_in_eval_mode_on_the_first_batches_of_a_fresh_shuffle():
    torch.manual_seed(0)
    model = ChapterGPT(TINY)
    ids = torch.randint(0, TINY.vocab_size, (12 * 32 + 1,)).tolist()
    windows = WindowDataset(ids, 32, 32)  # 12 windows: 6 batches of 2
    train = DataLoader(windows, batch_size=2, shuffle=True, drop_last=True)
    val = DataLoader(windows, batch_size=2, shuffle=False)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    train_loss, val_loss = evaluate(model, train, val, max_batches=5)
    # The training pass reshuffled: it drew from the global generator, the project's evaluation does not.
    assert not torch.equal(torch.get_rng_state(), state)
    assert not model.training  # no dropout while scoring
    with torch.no_grad():
        first_five = [batch_loss(model, x, y).item() for x, y in list(val)[:5]]
        torch.set_rng_state(state)
        shuffled_five = [batch_loss(model, x, y).item() for x, y in list(train)[:5]]
    assert val_loss == pytest.approx(sum(first_five) / 5)
    assert train_loss == pytest.approx(sum(shuffled_five) / 5)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_chapter_run_has_the_settings_of_the_project_overlay(overlay, compose_train):
    cfg = compose_train(f"experiment={OVERLAYS[overlay].experiment}")
    chapter = ChapterRunSettings(lr=OVERLAYS[overlay].lr)
    assert cfg.optimizer.lr == chapter.lr
    assert cfg.optimizer.weight_decay == chapter.weight_decay
    assert (cfg.data.batch_size, cfg.data.train_ratio) == (chapter.batch_size, chapter.train_ratio)
    assert cfg.data.stride == CHAPTER_MODEL.context_length  # windows do not overlap
    assert cfg.trainer.max_epochs == chapter.epochs
    assert (cfg.trainer.val_check_interval, cfg.data.eval_train_batches) == (
        chapter.eval_every,
        chapter.eval_batches,
    )
    assert cfg.seed == chapter.seed
    # vocab_size: null follows the tokenizer (GPT-2's 50,257 here).
    model = model_settings(OmegaConf.to_container(cfg.model), build_tokenizer(cfg.tokenizer))
    architecture = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias")
    assert {k: model[k] for k in architecture} == {k: getattr(CHAPTER_MODEL, k) for k in architecture}
