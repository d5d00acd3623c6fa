"""Cross-entropy and perplexity of a trained model on a text, printed as JSON
(``python scripts/evaluate.py`` or ``gpt-evaluate``).

    python scripts/evaluate.py ckpt=outputs/<run> text_path=gpt_experiments/assets/the-verdict.txt stride=512
    python scripts/evaluate.py ckpt=<file.ckpt> data=verdict
"""

import json
import sys
from dataclasses import asdict

import hydra
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.config import CONF_DIR, register_resolvers
from gpt_experiments.inference.evaluation import read_texts, sliding_window_perplexity
from gpt_experiments.inference.loading import describe_loaded, load_inference_model
from gpt_experiments.tokenizer import encode

# data=verdict and data=tinyshakespeare name their files with ${asset:...}.
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
@exits_on_user_error
def main(cfg: DictConfig) -> None:
    paths = cfg.text_path or OmegaConf.select(cfg, "data.path")
    paths = OmegaConf.to_object(paths) if OmegaConf.is_config(paths) else paths
    token_ids = encode(read_texts(paths))
    model = load_inference_model(cfg.ckpt, cfg.device, cfg.precision)
    print(describe_loaded(cfg.ckpt), file=sys.stderr)
    result = sliding_window_perplexity(model, token_ids, cfg.stride, cfg.context_length)
    print(json.dumps({"text": paths, **asdict(result)}, indent=2))
