"""What each swappable model part costs: the ``ablation`` options' models and optimizers,
built as ``conf/ablation/*.yaml`` gives them over one base model, trained in the plain loop
(the model's own cost, without the framework's) and timed side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gpt_experiments.config import CONF_DIR, register_resolvers
from gpt_experiments.training.compose import compose_config

# GPT-2's own parts: the option every other is read against.
BASELINE = "gpt2"


def ablation_options() -> list[str]:
    """Every option of the ``ablation`` config group, the baseline first."""
    names = sorted(path.stem for path in Path(CONF_DIR, "ablation").glob("*.yaml"))
    return [BASELINE] + [name for name in names if name != BASELINE]


def ablation_setup(name: str, base_model: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``ablation=name``: the model settings (``base_model`` with its parts) and the optimizer spec."""
    register_resolvers()
    cfg = compose_config(CONF_DIR, "train", [f"ablation={name}"])
    default_model = OmegaConf.to_container(compose_config(CONF_DIR, "train", []).model, resolve=True)
    chosen = OmegaConf.to_container(cfg.model, resolve=True)
    # Only what the option changes moves into the benchmarked model (its size stays the base's).
    parts = {key: value for key, value in chosen.items() if default_model.get(key) != value}
    return {**base_model, **parts}, OmegaConf.to_container(cfg.optimizer, resolve=True)
