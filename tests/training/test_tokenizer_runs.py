"""Training with each tokenizer: the model's vocabulary follows it and checkpoints keep it."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from gpt_experiments.config import asset_path
from gpt_experiments.convert.formats import load_any_model, load_any_tokenizer
from gpt_experiments.errors import ConfigError
from gpt_experiments.legacy import upgrade_config
from gpt_experiments.tokenizer import build_tokenizer, gpt2
from gpt_experiments.tokenizer.char import CharTokenizer
from gpt_experiments.training.config_checks import model_settings
from gpt_experiments.training.run import train
from tests.helpers import TINY_RUN
from tests.tokenizer.sample_files import write_huggingface_json, write_ranks_file

FEW_STEPS = [*TINY_RUN, "trainer.max_epochs=null", "trainer.max_steps=3", "trainer.limit_val_batches=2"]


def test_vocab_size_null_follows_the_tokenizer_and_a_smaller_one_is_refused():
    chars = CharTokenizer("abc")
    assert model_settings({"vocab_size": None, "emb_dim": 8}, chars) == {"vocab_size": 4, "emb_dim": 8}
    assert model_settings({"vocab_size": 64}, chars) == {"vocab_size": 64}  # room to spare is allowed
    with pytest.raises(
        ConfigError, match=r"model.vocab_size=100 is smaller than the gpt2 tokenizer \(50257"
    ) as err:
        model_settings({"vocab_size": 100}, gpt2())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["tiktoken", "huggingface"])
def test_a_tokenizer_file_trains_a_few_steps(compose_train, tmp_path, kind):
    if kind == "tiktoken":
        path = write_ranks_file(tmp_path / "ranks.tiktoken")
    else:
        with open(asset_path("the-verdict.txt"), encoding="utf-8") as f:
            path = write_huggingface_json(tmp_path / "tokenizer.json", f.read(), vocab_size=400)
    cfg = compose_train(*FEW_STEPS, "data=verdict", f"tokenizer={kind}", f"tokenizer.path={path}")
    train(cfg, tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    tokenizer = load_any_tokenizer(checkpoint)
    configured = build_tokenizer(OmegaConf.to_container(cfg.tokenizer))
    assert tokenizer.kind == kind and tokenizer.identity == configured.identity
    assert load_any_model(checkpoint).config.vocab_size == tokenizer.vocab_size < 50257
    cache = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(cache) == 1  # the corpus tokenized with this tokenizer, under its own key


def test_gpt2_sizes_written_out_compare_equal_to_null():
    old = {"model": {"vocab_size": 50257, "emb_dim": 8}, "sampler": {"eos_id": 50256, "top_k": 5}}
    assert upgrade_config(old) == {
        "model": {"vocab_size": None, "emb_dim": 8},
        "sampler": {"eos_id": "eot", "top_k": 5},
    }
    char = {"model": {"vocab_size": 50257}, "tokenizer": {"kind": "char"}}
    assert upgrade_config(char) == char  # only GPT-2's tokenizer has 50,257 tokens
