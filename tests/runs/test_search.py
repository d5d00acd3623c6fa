"""Optuna search: the sweeper's config, search spaces as overrides, a study continued, trials pruned."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from gpt_experiments.errors import ConfigError
from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.search import TRIAL_NUMBER_KEY
from gpt_experiments.search.space import as_overrides, split_overrides
from gpt_experiments.search.storage import open_storage
from gpt_experiments.search.study import (
    BEST_OVERRIDES_FILE,
    best_trial_overrides,
    check_same_command,
    close_interrupted_trials,
    describe_command,
)
from tests.conftest import CONF_DIR
from tests.helpers import run_script
from tests.runs.test_sweeps import job_dirs_of

# --- config and search space ----------------------------------------------------------------


def test_verdict_search_uses_the_project_sweeper_with_a_stored_study_and_a_pruner():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=verdict_optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("GptOptunaSweeper")
    # One folder per study, whatever the time: the same command finds its study again.
    assert cfg.hydra.sweep.dir == "outputs/search/verdict"
    assert sweeper.storage == "outputs/search/verdict/optuna.journal"
    assert sweeper.direction == "minimize" and sweeper.sampler.seed is not None
    assert sweeper.pruner._target_ == "optuna.pruners.MedianPruner"
    assert set(sweeper.params) == {"optimizer.lr", "model.drop_rate"}
    assert sweeper.trial_number_key == TRIAL_NUMBER_KEY
    assert OmegaConf.select(cfg, TRIAL_NUMBER_KEY, default="missing") is None


def test_search_space_from_sweep_syntax():
    fixed, space = split_overrides(
        [
            "optimizer.lr=tag(log, interval(1e-4, 3e-3))",
            "model.n_layers=int(interval(2, 8))",
            "model.drop_rate=choice(0.0, 0.1)",
            "seed=range(1, 4)",
            "model=tiny",
        ]
    )
    assert fixed == ["model=tiny"]
    assert space == {
        "optimizer.lr": FloatDistribution(1e-4, 3e-3, log=True),
        "model.n_layers": IntDistribution(2, 8),
        "model.drop_rate": CategoricalDistribution([0.0, 0.1]),
        "seed": CategoricalDistribution([1, 2, 3]),
    }


def test_trial_values_as_overrides_read_back_unchanged():
    params = {
        "optimizer.lr": 0.0010684874790620226,
        "model.n_layers": 3,
        "data.path": "/a b/c,d.txt",
        "x": True,
    }
    parsed = OverridesParser.create().parse_overrides(as_overrides(params))
    assert {o.key_or_group: o.value() for o in parsed} == params


# --- the study --------------------------------------------------------------------------------


def journal_study(tmp_path: Path) -> optuna.Study:
    return optuna.create_study(study_name="s", storage=open_storage(str(tmp_path / "s.journal")))


def test_a_study_refuses_another_command_but_not_another_progress_bar(tmp_path):
    study = journal_study(tmp_path)
    space = {"optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True)}
    neutral = {"trainer.enable_progress_bar"}
    check_same_command(study, describe_command(["model=tiny"], space, neutral), "s.journal")
    same = describe_command(["model=tiny", "trainer.enable_progress_bar=false"], space, neutral)
    check_same_command(study, same, "s.journal")
    with pytest.raises(ConfigError, match="started by another command.*study_name=<new name>"):
        check_same_command(study, describe_command(["model=gpt2_small"], space, neutral), "s.journal")


def test_trials_left_running_by_a_stopped_command_are_marked_failed(tmp_path):
    study = journal_study(tmp_path)
    study.ask()
    close_interrupted_trials(study)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


def test_best_override_line_is_the_fixed_settings_and_the_best_params(tmp_path):
    study = journal_study(tmp_path)
    dist = {"optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True)}
    assert best_trial_overrides(study, ["model=tiny"]) is None
    for lr, loss in [(1e-3, 5.0), (0.0031622776601683794, 4.5), (1e-4, math.inf)]:
        study.add_trial(create_trial(params={"optimizer.lr": lr}, distributions=dist, value=loss))
    line = best_trial_overrides(study, ["hparams_search=verdict_optuna", "model=tiny"])
    assert line == ["model=tiny", "optimizer.lr=0.0031622776601683794"]


# --- real searches ----------------------------------------------------------------------------

# Two short validations per trial (steps 2 and 4), no samples or TensorBoard: a few seconds each.
LEAN_TRIAL = [
    "model=tiny",
    "model.context_length=32",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.num_sanity_val_steps=0",
    "callbacks.text_samples=null",
    "~logger",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]

# A clearly bad region: lr=2 sends the loss far above lr=1e-3's at the first validation.
# All trials are drawn at random (n_startup_trials > trials), so which are bad does not
# depend on the losses; the pruner acts once one trial has finished.
PRUNING_SEARCH = """\
# @package _global_
defaults:
  - verdict_optuna
hydra:
  sweeper:
    study_name: pruning
    n_trials: 4
    sampler:
      n_startup_trials: 100
    pruner:
      n_startup_trials: 1
    params:
      optimizer.lr: choice(0.001, 2.0)
      model.drop_rate: choice(0.0)
"""


def write_search(cwd: Path, name: str, text: str) -> None:
    (cwd / "conf" / "hparams_search").mkdir(parents=True, exist_ok=True)
    (cwd / "conf" / "hparams_search" / f"{name}.yaml").write_text(text)


def load_study(path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(str(path)))


@pytest.mark.slow
def test_a_search_continues_with_the_same_command_prunes_bad_trials_and_writes_its_best(tmp_path):
    write_search(tmp_path, "pruning", PRUNING_SEARCH)
    command = ["-m", "--config-dir", "conf", "hparams_search=pruning", *LEAN_TRIAL]
    result = run_script("train.py", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "search" / "pruning"
    assert len(load_study(sweep / "optuna.journal", "pruning").trials) == 4

    # Again, the second time with two trials at once in joblib worker processes (launcher settings
    # are not part of what makes a study): the pruning callback finds its trial in the journal.
    parallel = ["hydra/launcher=local_parallel", "hydra.sweeper.n_jobs=2"]
    result = run_script("train.py", *command, *parallel, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Continuing study 'pruning' (4 trials so far)" in result.stdout
    study = load_study(sweep / "optuna.journal", "pruning")
    trials = study.trials
    assert [t.number for t in trials] == list(range(8))
    jobs = job_dirs_of(sweep)
    assert [int(job.name.split("_")[0]) for job in jobs] == list(range(8))

    # Pruned: only bad trials, stopped at their first validation (step 2 of 4), marked in their folder.
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.params, t.state) for t in trials]
    for trial in pruned:
        assert trial.params["optimizer.lr"] == 2.0 and list(trial.intermediate_values) == [2]
        assert (jobs[trial.number] / "PRUNED").read_text().startswith("stopped at step 2")
    first_done = min(t.number for t in trials if t.state == TrialState.COMPLETE)
    bad_later = [t for t in trials if t.number > first_done and t.params["optimizer.lr"] == 2.0]
    assert all(t.state == TrialState.PRUNED for t in bad_later)
    assert all(t.state == TrialState.COMPLETE for t in trials if t.params["optimizer.lr"] == 0.001)

    records, _ = compare_runs(sweep)
    assert sum(r.status == "pruned" for r in records) == len(pruned)
    assert records[0].status == "ok" and records[0].best_val_loss == pytest.approx(study.best_value)

    # The best trial as a command line: it parses, and it is exactly how the best trial ran.
    line = (sweep / BEST_OVERRIDES_FILE).read_text().strip()
    assert f"python scripts/train.py {line}" in result.stdout
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(line.split())}
    assert {key: parsed[key] for key in study.best_params} == study.best_params
    best_job = OmegaConf.load(jobs[study.best_trial.number] / ".hydra" / "overrides.yaml")
    ran_with = [o for o in best_job if not o.startswith((f"{TRIAL_NUMBER_KEY}=", "hparams_search="))]
    assert sorted(ran_with) == sorted(line.split())


# A search over a setting that fails for one of its values (emb_dim 24 is not divisible by 5 heads).
FAILING_SEARCH = """\
# @package _global_
defaults:
  - verdict_optuna
hydra:
  sweeper:
    study_name: failing
    n_trials: 3
    sampler:
      n_startup_trials: 3
    params:
      optimizer.lr: tag(log, interval(1e-3, 1e-2))
      model.n_heads: choice(3, 5)
"""


@pytest.mark.slow
def test_a_search_survives_a_failed_trial(tmp_path):
    write_search(tmp_path, "failing", FAILING_SEARCH)
    result = run_script(
        "train.py", "-m", "--config-dir", "conf", "hparams_search=failing", *LEAN_TRIAL, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "search" / "failing"
    trials = job_dirs_of(sweep)
    failed = [trial for trial in trials if (trial / "FAILED").exists()]
    assert len(trials) == 3 and failed and len(failed) < 3
    assert all("n_heads=5" in trial.name for trial in failed)
    study = load_study(sweep / "optuna.journal", "failing")
    # A bad setting is a result (inf), not a crash: the study records it and goes on.
    assert sorted(t.value for t in study.trials)[-len(failed) :] == [math.inf] * len(failed)
    assert study.best_params["model.n_heads"] == 3
