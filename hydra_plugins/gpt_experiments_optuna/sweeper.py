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
        seeds_per_trial: int,
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
        self.seeds_per_trial = seeds_per_trial
        self.sampler_cfg = sampler
        self.pruner_cfg = pruner
        self.params = dict(params or {})
        self.trial_number_key = trial_number_key
        self._launched = 0  # jobs launched so far: each gets the next job number

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
        from gpt_experiments.config import override_key
        from gpt_experiments.errors import ConfigError
        from gpt_experiments.result_keys import SEED_KEY
        from gpt_experiments.search import study as studies
        from gpt_experiments.search.space import split_overrides
        from gpt_experiments.training.compose import resolved_result_settings
        from gpt_experiments.training.run_lock import lock_run_dir

        if min(self.n_trials, self.n_jobs, self.seeds_per_trial) < 1:
            raise ConfigError(
                f"hydra.sweeper.n_trials={self.n_trials}, n_jobs={self.n_jobs}, "
                f"seeds_per_trial={self.seeds_per_trial}: each must be at least 1"
            )
        fixed, space = split_overrides([f"{key}={value}" for key, value in self.params.items()] + arguments)
        if SEED_KEY in space:
            raise ConfigError(
                f"{SEED_KEY} is searched, but a seed is no setting to tune: "
                "pass hydra.sweeper.seeds_per_trial=<k> to average each trial over k seeds"
            )
        # Each job's config but for the searched keys: what the study records, and the first seed.
        job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, fixed)
        seeds = [int(job_cfg.seed) + offset for offset in range(self.seeds_per_trial)]
        command = studies.describe_command(resolved_result_settings(job_cfg), space, self.seeds_per_trial)
        study, earlier = self._open_study(command)  # another command's study: refused, nothing written
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # One command per study: a second would take this one's running trials for killed ones.
        lock_run_dir(sweep_dir)
        studies.close_interrupted_trials(study)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if earlier:
            print(f"Continuing study {self.study_name!r} ({earlier} trials so far) in {self.storage}")

        self._launched = earlier * self.seeds_per_trial
        per_job = [o for o in fixed if override_key(o) != SEED_KEY]  # the sweeper sets each job's seed
        for start in range(0, self.n_trials, self.n_jobs):
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - start))]
            jobs = [studies.TrialJobs(trial) for trial in trials]
            for seed in seeds:
                self._run_seed(jobs, seed, per_job)
            for trial_jobs in jobs:
                studies.record_trial(study, trial_jobs)
        studies.write_best(study, fixed, sweep_dir)

    def _open_study(self, command: dict[str, Any]) -> tuple[Any, int]:
        """The study and how many trials it held; a continued one is checked before anything is written."""
        import optuna

        from gpt_experiments.search import study as studies
        from gpt_experiments.search.storage import is_journal, open_storage, repair_journal

        if is_journal(self.storage):
            repair_journal(Path(self.storage))
        storage = open_storage(self.storage)
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
        earlier = next((s.n_trials for s in summaries if s.study_name == self.study_name), None)
        if earlier is not None:
            # Loaded, not created: create_study(load_if_exists=True) appends a record to a journal.
            study = optuna.load_study(
                study_name=self.study_name,
                storage=storage,
                sampler=self._sampler(earlier),
                pruner=instantiate(self.pruner_cfg),
            )
            studies.check_same_command(study, command, self.storage)
        else:
            study = optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=self._sampler(0),
                pruner=instantiate(self.pruner_cfg),
                direction=self.direction,
            )
        studies.record_command(study, command)
        return study, earlier or 0

    def _run_seed(self, jobs: list[Any], seed: int, fixed: list[str]) -> None:
        """One job for each trial of ``jobs`` still going: its parameters, trained with ``seed``."""
        from gpt_experiments.search.space import as_overrides

        going = [trial_jobs for trial_jobs in jobs if trial_jobs.going]
        if not going:
            return
        batch = [
            [*fixed, *as_overrides(j.trial.params), *self._trial_number(j.trial.number), f"seed={seed}"]
            for j in going
        ]
        self.validate_batch_is_legal(batch)
        results = self.launcher.launch(batch, initial_job_idx=self._launched)
        self._launched += len(batch)
        for trial_jobs, result in zip(going, results, strict=True):
            trial_jobs.add(seed, result)

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
