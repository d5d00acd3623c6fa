"""Sweepers and launchers that come with an optional extra: named before a sweep starts.

Hydra imports a sweeper's or launcher's libraries only once the sweep runs, so a missing
one surfaced as a raw ``ModuleNotFoundError`` traceback. A sweep's config names them by
``_target_``; each is looked up here first.
"""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from gpt_experiments.errors import ConfigError

# A ``_target_`` prefix -> the module it needs, all from the ``sweep`` extra (pyproject.toml).
SWEEP_EXTRA_MODULES = {
    "hydra_plugins.gpt_experiments_optuna.": "optuna",
    "hydra_plugins.hydra_joblib_launcher.": "hydra_plugins.hydra_joblib_launcher",
    "hydra_plugins.hydra_submitit_launcher.": "hydra_plugins.hydra_submitit_launcher",
}
INSTALL_SWEEP = "pip install 'gpt-experiments[sweep]' (or make setup-dev)"


def check_sweep_extras(cfg: DictConfig) -> None:
    """A one-line error naming the extra when the config's sweeper or launcher cannot be imported."""
    for part in ("sweeper", "launcher"):
        target = str(cfg.hydra.get(part, {}).get("_target_", ""))
        for prefix, module in SWEEP_EXTRA_MODULES.items():
            if not target.startswith(prefix):
                continue
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ConfigError(
                    f"the {part} {target.rsplit('.', 1)[-1]} needs {err.name or module}, which is not "
                    f"installed: {INSTALL_SWEEP}"
                ) from None
