"""Tokenize any data source into llm.c shards (or nanoGPT ``.bin``) once, for this or other code.

    python scripts/prepare_data.py data=jsonl data.path=corpus.jsonl out_dir=prepared/
    python scripts/prepare_data.py data=tinyshakespeare out_dir=shakespeare/ shard_tokens=100000
    python scripts/prepare_data.py data=nanogpt_bin data.path=nanogpt/data/openwebtext out_dir=owt/

Tokens go through the same content-keyed cache as training (a second run, or training on the
same data, does not tokenize again), then are copied out as ``train_000000.bin``... and
``val_000000.bin``... Train on them with ``data=llmc data.path=<out_dir>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from gpt_experiments.cli.handler import checks_override_syntax_first, exits_on_user_error
from gpt_experiments.config import CONF_DIR, register_resolvers, resolved_values
from gpt_experiments.data.export import check_export, export_tokens
from gpt_experiments.data.shards import token_dtype
from gpt_experiments.data.windowed_data import WindowedData

register_resolvers()


@checks_override_syntax_first
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="prepare_data")
@exits_on_user_error
def main(cfg: DictConfig) -> None:
    # Window settings (max_length, stride...) only matter to training; the data group's defaults do here.
    data = WindowedData(
        **resolved_values(cfg.data, "data"), tokenizer=resolved_values(cfg.tokenizer, "tokenizer")
    )
    # Before tokenizing (minutes for a large corpus): settings and out_dir that the export refuses.
    check_export(Path(cfg.out_dir), cfg.format, cfg.shard_tokens, token_dtype(data.tokenizer.vocab_size))
    tokens = data.load_tokens()
    written = export_tokens(tokens, Path(cfg.out_dir), cfg.format, cfg.shard_tokens)
    report = {
        split: {"tokens": len(tokens[split]), "files": [str(p) for p in paths]}
        for split, paths in written.items()
    }
    dtype = str(tokens["train"].dtype)
    print(json.dumps({"out_dir": cfg.out_dir, "format": cfg.format, "dtype": dtype, **report}, indent=2))
