"""Multiple-choice scoring (HellaSwag and the generic format): acc by summed loss, acc_norm by
mean loss per token, on examples whose right answers are known by construction."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gpt_experiments.errors import DataError
from gpt_experiments.inference.multiple_choice import (
    ChoiceExample,
    choice_losses,
    evaluate_multiple_choice,
    read_examples,
)
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.tokenizer.char import CharTokenizer
from tests.inference.fixed_models import unigram

CHARS = CharTokenizer(" abcz")  # ids: " "=0 a=1 b=2 c=3 z=4, <|endoftext|>=5
# A unigram model: "a" 1/2, "b" 1/4, "z" (the planted impossibility) 1e-6, the rest shared.
MODEL = unigram({1: 0.5, 2: 0.25, 4: 1e-6}, CHARS.vocab_size, context_length=16)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_losses_are_the_choice_tokens_cross_entropy():
    losses = choice_losses(MODEL, CHARS.encode("c"), [CHARS.encode("aaaa"), CHARS.encode("b")])
    assert losses[0] == (pytest.approx(4 * math.log(2), rel=1e-6), 4)
    assert losses[1] == (pytest.approx(math.log(4), rel=1e-6), 1)


def test_planted_impossibilities_and_the_length_normalisation(tmp_path):
    rows = [
        # Every wrong ending holds "z": both measures pick the right one.
        {"ctx": "c", "endings": ["bz", "ab", "azb", "zz"], "label": 1},
        # Right: long and likely per token (4 x ln 2 in all, ln 2 per token). Wrong: short,
        # less likely per token but less in all (ln 4). acc picks the wrong one, acc_norm the right.
        {"ctx": "c", "endings": ["aaaa", "b", "zaaa", "bz"], "label": 0},
    ]
    examples = read_examples(write_jsonl(tmp_path / "hs.jsonl", rows), "hellaswag")
    assert examples[0].choices == [" bz", " ab", " azb", " zz"]  # HellaSwag endings follow a space
    result = evaluate_multiple_choice(MODEL, CHARS, examples, "hellaswag", progress=False)
    assert (result.examples, result.acc, result.acc_norm) == (2, 0.5, 1.0)


def test_generic_format_appends_choices_as_written(tmp_path):
    rows = [{"context": "c ", "choices": ["b", "aaaa"], "label": 1}]
    examples = read_examples(write_jsonl(tmp_path / "mc.jsonl", rows), "multiple_choice")
    assert examples[0].choices == ["b", "aaaa"]
    result = evaluate_multiple_choice(MODEL, CHARS, examples, "multiple_choice", progress=False)
    assert (result.acc, result.acc_norm) == (0.0, 1.0)


def test_padding_and_truncation_leave_each_choice_score_unchanged():
    """Choices scored in one padded batch score as they do alone; a long context keeps its end."""
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=6, context_length=12, emb_dim=16, n_heads=2, n_layers=2, drop_rate=0.0)
    ).eval()
    context = CHARS.encode("abcab cab")
    choices = [CHARS.encode(c) for c in (" a", " abcab", "c")]
    together = choice_losses(model, context, choices)
    for choice, score in zip(choices, together, strict=True):
        assert choice_losses(model, context, [choice])[0][0] == pytest.approx(score[0], rel=1e-5)
    long_context = CHARS.encode("cccccccccc") + context
    assert choice_losses(model, long_context, choices[1:2]) == choice_losses(
        model, context[-7:], choices[1:2]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"ctx": "a", "endings": ["b", "c"]}', "line 1 is not a hellaswag example"),
        ('{"ctx": "a", "endings": ["b", "c"], "label": 2}', "'label' must index one of them"),
        ("not json", "line 1 is not a hellaswag example"),
    ],
)
def test_bad_lines_are_one_line_errors(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_examples(path, "hellaswag")
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_a_tiny_model_trained_on_the_right_endings_prefers_them():
    """A real GPT trained for a few hundred steps on sentences ranks their true endings first."""
    sentences = ["the cat sat on the mat.", "a dog ran to the park.", "my fox hid in the den."]
    tokenizer = CharTokenizer.from_corpus(sentences)
    corpus = torch.tensor(tokenizer.encode(" ".join(sentences * 40)))
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tokenizer.vocab_size,
            context_length=24,
            emb_dim=24,
            n_heads=2,
            n_layers=1,
            drop_rate=0.0,
        )
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(120):
        starts = torch.randint(0, len(corpus) - 25, (8,))
        batch = torch.stack([corpus[s : s + 25] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    endings = ["mat.", "park.", "den."]
    examples = [
        ChoiceExample(s.rsplit(" ", 1)[0], [" " + e for e in endings], endings.index(s.rsplit(" ", 1)[1]))
        for s in sentences
    ]
    result = evaluate_multiple_choice(model, tokenizer, examples, "hellaswag", progress=False)
    assert (result.acc, result.acc_norm) == (1.0, 1.0)
