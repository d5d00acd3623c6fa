"""Score a trained model, printed as JSON (``python scripts/evaluate.py`` or ``gpt-evaluate``).

python scripts/evaluate.py ckpt=outputs/<run> data=tinyshakespeare          # val split: ppl, bpb
python scripts/evaluate.py ckpt=<file.ckpt> text_path=notes/*.txt stride=512
python scripts/evaluate.py ckpt=<run> task=hellaswag path=data/hellaswag_val.jsonl
python scripts/evaluate.py ckpt=<run> windows=training   # the run's own val/loss, exactly
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.cli.handler import checks_override_syntax_first, exits_on_user_error
from gpt_experiments.config import CONF_DIR, register_resolvers, resolved_values
from gpt_experiments.config_types import check_types
from gpt_experiments.data.windowed_data import WindowedData, data_split_tokens
from gpt_experiments.devices import COMPUTE_DTYPES
from gpt_experiments.errors import ConfigError, DataError
from gpt_experiments.inference.evaluation import (
    read_texts,
    sliding_window_perplexity,
    training_validation_loss,
)
from gpt_experiments.inference.loading import (
    describe_loaded,
    load_inference_model,
    load_inference_tokenizer,
    load_training_model,
)
from gpt_experiments.inference.multiple_choice import FORMATS, evaluate_multiple_choice, read_examples
from gpt_experiments.run_folder.provenance import read_provenance
from gpt_experiments.run_folder.saved import RUN_CONFIG, run_folder_of, saved_config
from gpt_experiments.tokenizer import Tokenizer

TASKS = ("perplexity", *FORMATS)
WINDOWS = ("sliding", "training")  # task=perplexity: Hugging Face's method, or training's val/loss
# conf/evaluate.yaml's settings with a type to check before anything is loaded.
SETTINGS = {"stride": int | None, "context_length": int | None, "limit": int | None, "compile": bool}

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


def training_validation(cfg: DictConfig, tokenizer: Tokenizer) -> tuple[dict[str, Any], Any]:
    """Score the split as the run's own validations did: its data settings, windows, batches and precision."""
    run = run_folder_of(cfg.ckpt)
    if run is None:
        raise ConfigError(
            f"windows=training reads the run's data settings from its {RUN_CONFIG}: pass ckpt=<run folder> "
            "or a checkpoint in its checkpoints/ folder"
        )
    if cfg.text_path or cfg.get("data") is not None:
        raise ConfigError("windows=training scores the run's own data: leave out data= and text_path=")
    try:
        saved = saved_config(run)
    except DataError as err:
        raise DataError(f"{err}: repair it, or score the text with data=<data option> instead") from None
    data = resolved_values(saved.data, "data")
    windowed = WindowedData(**data, tokenizer=tokenizer)
    windowed.load_windows()
    windows = windowed.val_set if cfg.split == "val" else windowed.train_set
    # Lightning's limit_val_batches: a count of batches, or a fraction of them (1.0: all).
    limit = saved.get("trainer", {}).get("limit_val_batches", 1.0)
    batches = -(-len(windows) // windowed.batch_size)
    limit_batches = limit if isinstance(limit, int) else int(batches * (1.0 if limit is None else limit))
    result = training_validation_loss(
        load_training_model(cfg.ckpt, cfg.device, cfg.compile),
        windows,
        windowed.batch_size,
        limit_batches * windowed.batch_size,
        tokenizer=tokenizer,
        autocast_dtype=run_autocast_dtype(run, saved),
    )
    return {"run": str(run), "split": cfg.split}, result


# Lightning's mixed precisions, whose autocast computes in these dtypes ("-true" ones hold
# their weights in them instead: no autocast).
AUTOCAST_DTYPES = {name: dtype for name, dtype in COMPUTE_DTYPES.items() if name.endswith("-mixed")}


def run_autocast_dtype(run: Path, saved: DictConfig) -> torch.dtype | None:
    """The autocast the run validated under: the precision its provenance.json records (what
    ``${fastest_precision:}`` became on its machine), else its config's, resolved here."""
    recorded = ((read_provenance(run) or {}).get("settings") or {}).get("precision")
    precision = recorded or resolved_values(saved.trainer, "trainer").get("precision")
    return AUTOCAST_DTYPES.get(str(precision))


def evaluate_inference_model(cfg: DictConfig) -> tuple[dict[str, Any], Any, Tokenizer]:
    """Perplexity over sliding windows, or a multiple-choice task, at the chosen inference precision."""
    model = load_inference_model(cfg.ckpt, cfg.device, cfg.precision, cfg.compile)
    print(describe_loaded(cfg.ckpt), file=sys.stderr)
    tokenizer = load_inference_tokenizer(cfg.ckpt)  # the one the model was trained with
    if cfg.task == "perplexity":
        scored, tokens = perplexity_tokens(cfg, tokenizer)
        tokens = tokens[: cfg.limit] if cfg.limit else tokens
        result = sliding_window_perplexity(model, tokens, cfg.stride, cfg.context_length, tokenizer=tokenizer)
        return scored, result, tokenizer
    examples = read_examples(cfg.path, cfg.task, cfg.limit)
    return {"path": cfg.path}, evaluate_multiple_choice(model, tokenizer, examples, cfg.task), tokenizer


@checks_override_syntax_first
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
@exits_on_user_error
def main(cfg: DictConfig) -> None:
    check_types(cfg, SETTINGS)
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"limit={cfg.limit} is invalid: it must be >= 1, or null to score everything")
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task!r} is unknown: use one of {', '.join(TASKS)}")
    if cfg.windows not in WINDOWS:
        raise ConfigError(f"windows={cfg.windows!r} is unknown: use one of {', '.join(WINDOWS)}")
    if cfg.task != "perplexity" and not cfg.path:
        raise ConfigError(f"task={cfg.task} needs path=<JSON Lines file>")
    if cfg.task == "perplexity" and cfg.windows == "training":
        tokenizer = load_inference_tokenizer(cfg.ckpt)
        scored, result = training_validation(cfg, tokenizer)  # loads the model as training held it
        print(describe_loaded(cfg.ckpt), file=sys.stderr)
    else:
        scored, result, tokenizer = evaluate_inference_model(cfg)
    print(json.dumps({**scored, "tokenizer": tokenizer.kind, **asdict(result)}, indent=2))
