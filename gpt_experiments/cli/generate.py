"""Generate text from a trained model (``python scripts/generate.py`` or ``gpt-generate``).

    python scripts/generate.py ckpt=outputs/<run> prompt="Every effort moves you" sampler=nucleus
    python scripts/generate.py ckpt=<file.ckpt> prompts_file=prompts.txt sampler=greedy \
        sampler.max_new_tokens=100
"""

import sys

import hydra
from omegaconf import DictConfig

from gpt_experiments.cli.handler import checks_override_syntax_first, exits_on_user_error
from gpt_experiments.config import CONF_DIR
from gpt_experiments.config_types import check_types
from gpt_experiments.inference.loading import describe_loaded, load_inference_model, load_inference_tokenizer
from gpt_experiments.inference.sampling import sampler_and_prompts
from gpt_experiments.inference.text import check_request, print_generations, read_prompts

# conf/generate.yaml's own settings with a type to check (prompt stays any scalar: prompt=2024).
SETTINGS = {"batch_size": int | None, "compile": bool}


@checks_override_syntax_first
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="generate")
@exits_on_user_error
def main(cfg: DictConfig) -> None:
    check_types(cfg, SETTINGS)
    sampler, config_prompts = sampler_and_prompts(cfg.sampler)
    prompts = read_prompts(cfg.prompt, cfg.prompts_file, config_prompts)
    model = load_inference_model(cfg.ckpt, cfg.device, cfg.precision, cfg.compile)
    tokenizer = load_inference_tokenizer(cfg.ckpt)  # the one the model was trained with
    check_request(model, prompts, sampler, tokenizer)
    # auto differs between machines, and so does greedy text: say what was chosen.
    weights = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(f"{describe_loaded(cfg.ckpt)} [{weights} weights, precision={cfg.precision}]", file=sys.stderr)
    print_generations(model, prompts, sampler, cfg.batch_size, tokenizer=tokenizer)
