"""OmegaConf resolvers used by the configs in ``conf/``."""

from __future__ import annotations

from importlib import resources

from omegaconf import OmegaConf


def asset_path(name: str) -> str:
    """Absolute path of a file bundled in ``gpt_experiments/assets`` (the default corpora)."""
    return str(resources.files("gpt_experiments") / "assets" / name)


def register_resolvers() -> None:
    """Make ``${asset:the-verdict.txt}`` usable in configs; safe to call more than once."""
    OmegaConf.register_new_resolver("asset", asset_path, replace=True)
