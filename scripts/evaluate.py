"""Cross-entropy and perplexity of a trained model on a text, printed as JSON.

python scripts/evaluate.py ckpt=outputs/<run> text_path=gpt_experiments/assets/the-verdict.txt stride=512
python scripts/evaluate.py ckpt=<file.ckpt> data=verdict
"""

import json
from dataclasses import asdict

import hydra
from omegaconf import DictConfig, OmegaConf

from gpt_experiments.cli_errors import exit_on_user_error
from gpt_experiments.evaluation import read_texts, sliding_window_perplexity
from gpt_experiments.inference import load_inference_model
from gpt_experiments.tokenizer import encode


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        paths = cfg.text_path or OmegaConf.select(cfg, "data.path")
        paths = OmegaConf.to_object(paths) if OmegaConf.is_config(paths) else paths
        token_ids = encode(read_texts(paths))
        model = load_inference_model(cfg.ckpt, cfg.device, cfg.precision)
        result = sliding_window_perplexity(model, token_ids, cfg.stride, cfg.context_length)
        print(json.dumps({"text": paths, **asdict(result)}, indent=2))


if __name__ == "__main__":
    main()
