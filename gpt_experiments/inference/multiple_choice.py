"""Multiple-choice benchmarks scored as completions: HellaSwag and a generic JSON Lines format.

Each example is a context and a few candidate continuations, one of them right. Every
continuation is appended to the context and scored by the cross-entropy of its own tokens
(the context's are not scored), as nanoGPT's and llm.c's HellaSwag evaluations do:

- ``acc``: the choice with the lowest *summed* cross-entropy (highest log-probability);
- ``acc_norm``: the lowest *mean* cross-entropy per token, which does not penalise a
  choice for being long.

Formats (one JSON object a line):

- ``hellaswag``: ``{"ctx": ..., "endings": [4 strings], "label": i}`` (HellaSwag's
  validation file); an ending is appended after a space, as those scripts do.
- ``multiple_choice``: ``{"context": ..., "choices": [...], "label": i}``; a choice is
  appended exactly as written (begin it with a space if the words should be separated).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gpt_experiments.data.text_stream import read_lines
from gpt_experiments.errors import DataError, missing_reason
from gpt_experiments.inference.eval_mode import eval_mode
from gpt_experiments.tokenizer import Tokenizer

# task -> (context key, choices key, text put between context and choice)
FORMATS = {
    "hellaswag": ("ctx", "endings", " "),
    "multiple_choice": ("context", "choices", ""),
}


@dataclass(frozen=True)
class ChoiceExample:
    context: str
    choices: list[str]  # each as appended to the context
    label: int


@dataclass
class MultipleChoiceResult:
    task: str
    examples: int
    acc: float  # right answers by summed cross-entropy
    acc_norm: float  # right answers by mean cross-entropy per token


def read_examples(path: str | Path, task: str, limit: int | None = None) -> list[ChoiceExample]:
    """The examples of a JSON Lines file in ``task``'s format; a bad line is a one-line error."""
    if task not in FORMATS:
        raise DataError(f"task={task!r} is not a multiple-choice format: use one of {', '.join(FORMATS)}")
    path = Path(str(path))
    if not path.is_file():
        raise DataError(f"path={path} {missing_reason(path)}: pass the {task} JSON Lines file")
    context_key, choices_key, joiner = FORMATS[task]
    examples = []
    for number, line in read_lines(path, fix="convert it to UTF-8"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            context, choices, label = row[context_key], row[choices_key], int(row["label"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DataError(
                f"{path} line {number} is not a {task} example ({type(err).__name__}: {err}): each line "
                f"needs {context_key!r}, {choices_key!r} and 'label'"
            ) from None
        if not isinstance(context, str):
            raise DataError(
                f"{path} line {number}: {context_key!r} is {type(context).__name__}, not text: give the "
                "context as a string"
            )
        listed = isinstance(choices, list) and all(isinstance(choice, str) for choice in choices)
        if not listed or len(choices) < 2 or not 0 <= label < len(choices):
            raise DataError(
                f"{path} line {number}: {choices_key!r} must list at least 2 choices (strings) and 'label' "
                "must index one of them"
            )
        examples.append(ChoiceExample(context, [joiner + choice for choice in choices], label))
        if limit is not None and len(examples) == limit:
            break
    if not examples:
        raise DataError(f"{path} holds no examples: give a JSON Lines file, one example a line")
    return examples


@torch.inference_mode()
def choice_losses(model: nn.Module, context: list[int], choices: list[list[int]]) -> list[tuple[float, int]]:
    """``(summed cross-entropy in nats, token count)`` of each choice's tokens after ``context``.

    The rows are scored as one right-padded batch: with causal attention, padding after a
    row's end changes none of its predictions. A row longer than the model's context keeps
    its last tokens (the choice and as much context as fits).
    """
    if not context:
        raise DataError("an example's context has no tokens: the first choice token needs one to follow")
    limit = model.config.context_length + 1  # inputs are a row without its last token
    for choice in choices:
        if not 1 <= len(choice) < limit:
            raise DataError(
                f"a choice of {len(choice)} tokens cannot be scored with a context of "
                f"{model.config.context_length}: give non-empty choices shorter than the context"
            )
    rows = [(context + choice)[-limit:] for choice in choices]
    width = max(len(row) for row in rows)
    device = next(model.parameters()).device
    tokens = torch.zeros(len(rows), width, dtype=torch.long)
    scored = torch.zeros(len(rows), width - 1, dtype=torch.bool)  # over targets = tokens[:, 1:]
    for index, (row, choice) in enumerate(zip(rows, choices, strict=True)):
        tokens[index, : len(row)] = torch.tensor(row)
        scored[index, len(row) - 1 - len(choice) : len(row) - 1] = True
    tokens, scored = tokens.to(device), scored.to(device)
    logits = model(tokens[:, :-1]).float()
    losses = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none") * scored
    return [(float(total), len(choice)) for total, choice in zip(losses.sum(1), choices, strict=True)]


def evaluate_multiple_choice(
    model: nn.Module, tokenizer: Tokenizer, examples: list[ChoiceExample], task: str, progress: bool = True
) -> MultipleChoiceResult:
    """Accuracy (lowest summed loss) and length-normalised accuracy (lowest mean loss) over ``examples``."""
    right = right_norm = 0
    with eval_mode(model):
        for example in tqdm(examples, desc=task, unit="example", disable=not progress):
            context = tokenizer.encode_ordinary(example.context)
            scores = choice_losses(model, context, [tokenizer.encode_ordinary(c) for c in example.choices])
            sums = [total for total, _ in scores]
            means = [total / count for total, count in scores]
            right += sums.index(min(sums)) == example.label
            right_norm += means.index(min(means)) == example.label
    return MultipleChoiceResult(
        task=task, examples=len(examples), acc=right / len(examples), acc_norm=right_norm / len(examples)
    )
