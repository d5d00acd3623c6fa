"""GPT-2 formats hold GPT-2's tokenizer only: a checkpoint trained with another is refused."""

from __future__ import annotations

import pytest

from gpt_experiments.checkpoints.project import save_model
from gpt_experiments.cli.convert import main as convert_main
from gpt_experiments.convert.formats import convert, load_any_tokenizer
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer.char import CharTokenizer

CHARS = CharTokenizer("abc ")


@pytest.fixture
def char_checkpoint(tmp_path):
    model = GPT(GPTConfig(vocab_size=CHARS.vocab_size, context_length=8, emb_dim=8, n_heads=2, n_layers=1))
    return save_model(model, tmp_path / "char.ckpt", tokenizer=CHARS.to_dict())


def test_the_saved_tokenizer_is_read_back(char_checkpoint):
    assert load_any_tokenizer(char_checkpoint).to_dict() == CHARS.to_dict()


def test_conversion_to_huggingface_is_refused_in_one_line(char_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        convert_main([str(char_checkpoint), str(tmp_path / "hf"), "--to", "huggingface"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "the char tokenizer (5 tokens)" in err and "--to project" in err
    assert not (tmp_path / "hf").exists()


def test_a_project_copy_keeps_the_tokenizer(char_checkpoint, tmp_path):
    copy = convert(char_checkpoint, tmp_path / "copy.ckpt", to="project")
    assert load_any_tokenizer(copy).to_dict() == CHARS.to_dict()
