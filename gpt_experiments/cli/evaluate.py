"""Score a trained model, printed as JSON (``python scripts/evaluate.py`` or ``gpt-evaluate``).

python scripts/evaluate.py ckpt=outputs/<run> data=tinyshakespeare          # val split: ppl, bpb
python scripts/evaluate.py ckpt=<file.ckpt> text_path=notes/*.txt stride=512
python scripts/evaluate.py ckpt=<run> task=hellaswag path=data/hellaswag_val.jsonl
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.cli.handler import checks_override_syntax_first, exits_on_user_error
from gpt_experiments.config import CONF_DIR, register_resolvers, resolved_values
from gpt_experiments.data.windowed_data import data_split_tokens
from gpt_experiments.errors import ConfigError
from gpt_experiments.inference.evaluation import read_texts, sliding_window_perplexity
from gpt_experiments.inference.loading import describe_loaded, load_inference_model, load_inference_tokenizer
from gpt_experiments.inference.multiple_choice import FORMATS, evaluate_multiple_choice, read_examples
from gpt_experiments.tokenizer import Tokenizer

TASKS = ("perplexity", *FORMATS)

# data=verdict and data=tinyshakespeare name their files with ${asset:...}.
register_resolvers()


def perplexity_tokens(cfg: DictConfig, tokenizer: Tokenizer) -> tuple[dict[str, Any], np.ndarray | list[int]]:
    """What is scored (for the report) and its tokens: all of ``text_path``, or a split of ``data``."""
    if cfg.text_path:
        paths = OmegaConf.to_object(cfg.text_path) if OmegaConf.is_config(cfg.text_path) else cfg.text_path
        return {"text": paths}, tokenizer.encode_ordinary(read_texts(paths))
    if cfg.get("data") is None:
        raise ConfigError("no text to evaluate: pass text_path=<file or glob> or data=<data option>")
    # Keys that only a training config resolves (max_length: ${model.context_length}) keep their defaults.
    data = resolved_values(cfg.data, "data")
    return {"data": data.get("path"), "split": cfg.split}, data_split_tokens(data, tokenizer, cfg.split)


@checks_override_syntax_first
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
@exits_on_user_error
def main(cfg: DictConfig) -> None:
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task!r} is unknown: use one of {', '.join(TASKS)}")
    if cfg.task != "perplexity" and not cfg.path:
        raise ConfigError(f"task={cfg.task} needs path=<JSON Lines file>")
    model = load_inference_model(cfg.ckpt, cfg.device, cfg.precision)
    print(describe_loaded(cfg.ckpt), file=sys.stderr)
    tokenizer = load_inference_tokenizer(cfg.ckpt)  # the one the model was trained with
    if cfg.task == "perplexity":
        scored, tokens = perplexity_tokens(cfg, tokenizer)
        tokens = tokens[: cfg.limit] if cfg.limit else tokens
        result = sliding_window_perplexity(model, tokens, cfg.stride, cfg.context_length, tokenizer=tokenizer)
    else:
        scored = {"path": cfg.path}
        examples = read_examples(cfg.path, cfg.task, cfg.limit)
        result = evaluate_multiple_choice(model, tokenizer, examples, cfg.task)
    print(json.dumps({**scored, "tokenizer": tokenizer.kind, **asdict(result)}, indent=2))
