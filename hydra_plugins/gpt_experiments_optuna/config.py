"""The sweeper's settings, registered with Hydra as ``hydra/sweeper: gpt_optuna``.

No ``from __future__ import annotations``: OmegaConf reads these types at runtime, and Hydra
imports this module before registering it in sys.modules, which string annotations trip over.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class GptOptunaSweeperConf:
    _target_: str = "hydra_plugins.gpt_experiments_optuna.sweeper.GptOptunaSweeper"
    # The sweeper instantiates sampler and pruner itself (the sampler's seed depends on the study).
    _recursive_: bool = False
    # The study's name; the search's folder and storage default to one per name, so that the
    # same command continues the same study.
    study_name: str = "search"
    # A journal file path or a database URL (sqlite:///path.db); the study is created if missing.
    storage: str = "${hydra.sweep.dir}/optuna.journal"
    direction: str = "minimize"
    # Trials this command adds to the study (a study continued by the same command grows by as many).
    n_trials: int = 20
    # Trials asked for and launched together (run in parallel by a parallel launcher).
    n_jobs: int = 1
    # Seeds each trial's parameters are trained with (seed, seed + 1, ...): its value is their mean.
    seeds_per_trial: int = 1
    # Optuna sampler and pruner, instantiated by Hydra (_target_: optuna.samplers.TPESampler, ...).
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None})
    pruner: Any = field(default_factory=lambda: {"_target_": "optuna.pruners.NopPruner"})
    # The search space: key -> interval(a, b), choice(a, b), range(a, b), tag(log, interval(a, b)).
    params: dict[str, str] = field(default_factory=dict)
    # The job config key that receives each trial's number (for a pruning callback); null: none.
    trial_number_key: str | None = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="gpt_optuna", node=GptOptunaSweeperConf, provider="gpt_experiments"
)
