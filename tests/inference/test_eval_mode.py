"""Every scoring and generating path runs the model in eval mode and hands it back as it came."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from gpt_experiments.inference.eval_mode import eval_mode
from gpt_experiments.inference.evaluation import sliding_window_perplexity
from gpt_experiments.inference.multiple_choice import ChoiceExample, evaluate_multiple_choice
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer import build_tokenizer

TOKENIZER = build_tokenizer({"kind": "char"}, corpus=lambda: iter(["abcdefgh "]))
CONFIG = GPTConfig(vocab_size=TOKENIZER.vocab_size, context_length=8, emb_dim=8, n_heads=2, n_layers=1)


def modes_seen_by(use: Callable[[GPT], object], start_training: bool) -> tuple[set[bool], bool]:
    """The ``training`` flags the model's forward passes saw while ``use`` ran, and its mode after."""
    torch.manual_seed(0)
    model = GPT(CONFIG).train(start_training)
    seen: set[bool] = set()
    model.register_forward_pre_hook(lambda module, args: seen.add(module.training))
    use(model)
    return seen, model.training


USES = {
    "perplexity": lambda model: sliding_window_perplexity(
        model, TOKENIZER.encode("abc defg habc defg h"), tokenizer=TOKENIZER, progress=False
    ),
    "multiple_choice": lambda model: evaluate_multiple_choice(
        model, TOKENIZER, [ChoiceExample("abc", ["d", "e"], 0)], "toy", progress=False
    ),
    "generate": lambda model: generate(model, [TOKENIZER.encode("ab")], SamplerConfig(max_new_tokens=3)),
}


@pytest.mark.parametrize("start_training", [True, False])
@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
def test_every_inference_path_runs_in_eval_mode_and_restores_the_mode(use, start_training):
    seen, training_after = modes_seen_by(use, start_training)
    assert seen == {False}
    assert training_after is start_training


def test_the_mode_is_restored_when_the_block_raises():
    model = GPT(CONFIG).train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError("interrupted")
    assert model.training
