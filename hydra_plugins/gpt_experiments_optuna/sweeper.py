"""A Hydra sweeper that asks an Optuna study for trials, runs them as jobs and tells it the results.

The study is kept in a storage (by default a journal file in the sweep folder), so running
the same command again continues it. Optuna is imported only when a search runs: Hydra
imports this module at every start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


class GptOptunaSweeper(Sweeper):
    def __init__(
        self,
        study_name: str,
        storage: str,
        direction: str,
        n_trials: int,
        n_jobs: int,
        sampler: DictConfig,
        pruner: DictConfig,
        params: DictConfig | dict[str, str],
        trial_number_key: str | None,
    ) -> None:
        self.study_name = study_name
        self.storage = storage
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_cfg = sampler
        self.pruner_cfg = pruner
        self.params = dict(params or {})
        self.trial_number_key = trial_number_key

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from gpt_experiments.cli.handler import exits_on_user_error

        exits_on_user_error(self._search)(arguments)

    def _search(self, arguments: list[str]) -> None:
        import optuna

        from gpt_experiments.errors import ConfigError
        from gpt_experiments.search import study as studies
        from gpt_experiments.search.space import as_overrides, split_overrides
        from gpt_experiments.search.storage import open_storage

        if self.n_trials < 1 or self.n_jobs < 1:
            raise ConfigError(
                f"hydra.sweeper.n_trials={self.n_trials}, n_jobs={self.n_jobs}: both must be at least 1"
            )
        fixed, space = split_overrides([f"{key}={value}" for key, value in self.params.items()] + arguments)
        storage = open_storage(self.storage)
        earlier = self._earlier_trials(storage)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=storage,
            sampler=self._sampler(earlier),
            pruner=instantiate(self.pruner_cfg),
            direction=self.direction,
            load_if_exists=True,
        )
        # Settings that do not change results (progress bar, paths...) may differ between the two commands.
        neutral = set(self.config.hydra.job.config.override_dirname.exclude_keys)
        studies.check_same_command(study, studies.describe_command(fixed, space, neutral), self.storage)
        studies.close_interrupted_trials(study)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if earlier:
            print(f"Continuing study {self.study_name!r} ({earlier} trials so far) in {self.storage}")

        for start in range(0, self.n_trials, self.n_jobs):
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - start))]
            batch = [
                fixed + as_overrides(trial.params) + self._trial_number(trial.number) for trial in trials
            ]
            self.validate_batch_is_legal(batch)
            # Job folders are numbered by trial, so a continued study never reuses a folder.
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, result in zip(trials, results, strict=True):
                studies.record_result(study, trial, result)
        studies.write_best(study, fixed, sweep_dir)

    def _earlier_trials(self, storage: Any) -> int:
        """How many trials the study already holds (0 when it does not exist yet)."""
        import optuna

        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
        return next((s.n_trials for s in summaries if s.study_name == self.study_name), 0)

    def _sampler(self, earlier_trials: int) -> Any:
        """The configured sampler; a seeded one is reseeded past the trials already run.

        Otherwise a continued study would draw the same random first points again.
        """
        seed = self.sampler_cfg.get("seed")
        if seed is None:
            return instantiate(self.sampler_cfg)
        return instantiate(self.sampler_cfg, seed=seed + earlier_trials)

    def _trial_number(self, number: int) -> list[str]:
        return [f"{self.trial_number_key}={number}"] if self.trial_number_key else []
