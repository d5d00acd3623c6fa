"""Optuna search: the sweeper's config, search spaces as overrides, a study continued, trials pruned."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from gpt_experiments.errors import ConfigError
from gpt_experiments.result_keys import TRIAL_NUMBER_KEY
from gpt_experiments.runs.compare import compare_runs
from gpt_experiments.search.space import as_overrides, split_overrides
from gpt_experiments.search.storage import open_storage
from gpt_experiments.search.study import (
    BEST_OVERRIDES_FILE,
    COMMAND_ATTR,
    best_trial_overrides,
    check_same_command,
    close_interrupted_trials,
    describe_command,
    record_command,
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


def test_a_study_refuses_other_settings_names_them_and_writes_nothing(tmp_path):
    study = journal_study(tmp_path)
    space = {"optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True)}
    settings = {"model.n_layers": 2, "optimizer.lr": 1e-3, "callbacks.text_samples": None}
    command = describe_command(settings, space, seeds_per_trial=1)
    assert "optimizer.lr" not in command["settings"]  # searched: its trials' values differ anyway
    check_same_command(study, command, "s.journal")  # a new study: nothing recorded yet
    record_command(study, command)
    check_same_command(study, describe_command(settings, space, 1), "s.journal")
    recorded = (tmp_path / "s.journal").read_bytes()
    other = {"model.n_layers": 1, "optimizer.lr": 1e-3, "callbacks.text_samples.every_n_epochs": 1}
    with pytest.raises(ConfigError) as refused:
        check_same_command(study, describe_command(other, space, 3), "s.journal")
    message = str(refused.value)
    assert "model.n_layers (2 there, 1 here)" in message
    assert "callbacks.text_samples (null there, {...} here)" in message  # not each of its keys
    assert "hydra.sweeper.seeds_per_trial (1 there, 3 here)" in message
    assert "hydra.sweeper.study_name=<new name>" in message and "\n" not in message
    assert (tmp_path / "s.journal").read_bytes() == recorded


def test_a_study_recorded_without_its_settings_is_continued_and_recorded(tmp_path, capsys):
    study = journal_study(tmp_path)
    space = {"optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True)}
    legacy = {"fixed": [], "params": {"optimizer.lr": repr(space["optimizer.lr"])}}
    study.set_user_attr(COMMAND_ATTR, legacy)  # as searches recorded it before settings were
    command = describe_command({"model.n_layers": 2}, space, 1)
    narrower = {"optimizer.lr": FloatDistribution(1e-3, 1e-2)}
    with pytest.raises(ConfigError, match="search space"):
        check_same_command(study, describe_command({}, narrower, 1), "s.journal")
    check_same_command(study, command, "s.journal")
    record_command(study, command)
    assert "recorded without its settings" in capsys.readouterr().err
    assert study.user_attrs[COMMAND_ATTR] == command


def test_trials_left_running_by_a_stopped_command_are_marked_failed(tmp_path):
    study = journal_study(tmp_path)
    study.ask()
    close_interrupted_trials(study)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


def test_best_override_line_is_the_fixed_settings_the_best_params_and_their_seeds(tmp_path):
    study = journal_study(tmp_path)
    dist = {"optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True)}
    assert best_trial_overrides(study, ["model=tiny"]) is None
    for lr, loss, seeds in [(1e-3, 5.0, [1]), (0.0031622776601683794, 4.5, [1, 2, 3]), (1e-4, math.inf, [1])]:
        trial = create_trial(params={"optimizer.lr": lr}, distributions=dist, value=loss)
        trial.set_user_attr("seeds", seeds)
        study.add_trial(trial)
    line = best_trial_overrides(study, ["hparams_search=verdict_optuna", "model=tiny", "seed=1"])
    # Measured as the mean over three seeds: trained again over the same three, as a -m run.
    assert line == ["-m", "model=tiny", "optimizer.lr=0.0031622776601683794", "seed=1,2,3"]


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
    sweep = tmp_path / "outputs" / "search" / "failing"
    trials = job_dirs_of(sweep)
    failed = [trial for trial in trials if (trial / "FAILED").exists()]
    assert len(trials) == 3 and failed and len(failed) < 3
    # Every trial ran; the command then says how many failed, and exits 1.
    assert result.returncode == 1, result.stderr[-3000:]
    assert error_lines(result.stderr)[-1].startswith(f"error: {len(failed)} of 3 jobs failed")
    assert all("n_heads-5" in trial.name for trial in failed)
    study = load_study(sweep / "optuna.journal", "failing")
    # A bad setting is a result (inf), not a crash: the study records it and goes on.
    assert sorted(t.value for t in study.trials)[-len(failed) :] == [math.inf] * len(failed)
    assert study.best_params["model.n_heads"] == 3


# --- a study knows its command, its seeds and its journal ---------------------------------


def search_command(name: str, seeds: int = 1) -> list[str]:
    """The shipped search, as a user types it: one trial per command (drawn at random, never pruned:
    verdict_optuna's sampler and pruner both start after 5 trials)."""
    study = [f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=1"]
    if seeds > 1:
        study.append(f"hydra.sweeper.seeds_per_trial={seeds}")
    return ["-m", "hparams_search=verdict_optuna", *study, *LEAN_TRIAL]


def folder_state(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``folder``: modification time, size, and the bytes of the small ones."""
    return {
        str(path.relative_to(folder)): (
            path.stat().st_mtime_ns,
            path.stat().st_size,
            path.read_bytes() if path.stat().st_size < 1_000_000 else b"",
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_a_study_refuses_another_command_and_stays_byte_identical(tmp_path):
    command = search_command("guarded")
    result = run_script("train.py", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "search" / "guarded"
    before = folder_state(sweep)
    assert BEST_OVERRIDES_FILE in before

    # The train command sets model.n_layers for every job, which once made it "neutral".
    for other, named in (
        (["model.n_layers=1"], "model.n_layers (2 there, 1 here)"),
        (
            ["model=gpt2_small"],
            "model.emb_dim (24 there, 768 here)",
        ),
    ):
        refused = run_script("train.py", *command, *other, cwd=tmp_path)
        assert refused.returncode == 1, refused.stdout[-2000:]
        (error,) = error_lines(refused.stderr)
        assert named in error and "hydra.sweeper.study_name=<new name>" in error
        assert "Traceback" not in refused.stderr and "Continuing study" not in refused.stdout
        assert folder_state(sweep) == before  # journal, best line, folders: all as they were


@pytest.mark.slow
def test_a_journal_torn_at_its_end_is_repaired_and_a_garbled_line_is_reported(tmp_path):
    command = search_command("torn")
    journal = tmp_path / "outputs" / "search" / "torn" / "optuna.journal"
    study = optuna.create_study(study_name="torn", storage=open_storage(str(journal)))
    study.add_trial(
        create_trial(
            params={"optimizer.lr": 1e-3, "model.drop_rate": 0.0},
            distributions={
                "optimizer.lr": FloatDistribution(1e-4, 3e-3, log=True),
                "model.drop_rate": CategoricalDistribution([0.0, 0.1]),
            },
            value=11.0,
        )
    )
    with journal.open("ab") as file:  # a record cut off by a killed write: no line end
        file.write(b'{"op_code": 5, "worker_id": "4f2c')

    result = run_script("train.py", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dropped its last record, cut off by a killed write" in result.stderr
    assert journal.read_bytes().endswith(b"\n")
    assert len(load_study(journal, "torn").trials) == 2  # the study still loads, with the new trial

    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2][: len(lines[2]) // 2]  # a damaged record in the middle
    journal.write_bytes(b"\n".join(lines))
    damaged = journal.read_bytes()
    result = run_script("train.py", *command, cwd=tmp_path)
    assert result.returncode == 1
    (error,) = error_lines(result.stderr)
    assert f"{Path('outputs/search/torn/optuna.journal')}: line 3 is not a journal record" in error
    assert "hydra.sweeper.study_name=<new name>" in error and "Traceback" not in result.stderr
    assert journal.read_bytes() == damaged


@pytest.mark.slow
def test_seeds_per_trial_make_a_trial_the_mean_of_its_seeds(tmp_path):
    result = run_script("train.py", *search_command("seeds", seeds=3), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "search" / "seeds"
    jobs = job_dirs_of(sweep)  # all of trial 0, one per seed, named and run with it
    assert [job.name.rsplit("+", 1)[-1] for job in sorted(jobs)] == ["seed-123", "seed-124", "seed-125"]
    seeds = [
        next(o for o in OmegaConf.load(job / ".hydra" / "overrides.yaml") if o.startswith("seed="))
        for job in jobs
    ]
    assert sorted(seeds) == ["seed=123", "seed=124", "seed=125"]
    assert all(job.name.startswith("0_") for job in jobs)
    jobs = [jobs[seeds.index(f"seed={seed}")] for seed in (123, 124, 125)]
    histories = [list(csv.DictReader((job / "history.csv").open())) for job in jobs]
    best = [min(float(row["val_loss"]) for row in rows) for rows in histories]

    (trial,) = load_study(sweep / "optuna.journal", "seeds").trials
    assert trial.value == pytest.approx(statistics.mean(best), rel=1e-5)
    assert trial.user_attrs["seeds"] == [123, 124, 125]
    assert trial.user_attrs["seed_values"] == pytest.approx(best, rel=1e-5)
    assert trial.user_attrs["value_std"] == pytest.approx(statistics.stdev(best), rel=1e-3)
    # What the pruner judged: the first seed's curve (every trial's first seed is 123: a paired
    # comparison); each seed's curve is kept with the trial.
    curves = [{int(row["step"]): float(row["val_loss"]) for row in rows} for rows in histories]
    assert trial.intermediate_values == pytest.approx(curves[0], rel=1e-5)
    for seed, curve in zip((123, 124, 125), curves, strict=True):
        kept = trial.user_attrs[f"val_loss_curve_seed={seed}"]
        assert {int(step): loss for step, loss in kept.items()} == pytest.approx(curve, rel=1e-5)

    # The best line trains the same parameters over the same seeds.
    line = (sweep / BEST_OVERRIDES_FILE).read_text().split()
    assert line[0] == "-m" and line[-1] == "seed=123,124,125"
    assert f"python scripts/train.py {' '.join(line)}" in result.stdout
    assert "(mean of 3 seeds, std " in result.stdout


@pytest.mark.slow
def test_a_searched_seed_is_refused_for_seeds_per_trial(tmp_path):
    result = run_script("train.py", *search_command("seeded"), "seed=1,2", cwd=tmp_path)
    assert result.returncode == 1
    (error,) = error_lines(result.stderr)
    assert "hydra.sweeper.seeds_per_trial=<k>" in error
    assert not (tmp_path / "outputs" / "search" / "seeded").exists()


@pytest.mark.slow
def test_a_trial_over_seeds_is_pruned_by_its_first_seed_and_skips_its_other_seeds(tmp_path):
    search = PRUNING_SEARCH.replace("study_name: pruning", "study_name: pruned_seeds")
    write_search(
        tmp_path, "pruned_seeds", search.replace("n_trials: 4", "n_trials: 4\n    seeds_per_trial: 2")
    )
    command = ["-m", "--config-dir", "conf", "hparams_search=pruned_seeds", *LEAN_TRIAL]
    result = run_script("train.py", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "search" / "pruned_seeds"
    trials = load_study(sweep / "optuna.journal", "pruned_seeds").trials
    folders = {
        t.number: [job for job in job_dirs_of(sweep) if job.name.startswith(f"{t.number}_")] for t in trials
    }
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.params, t.state) for t in trials]
    # Only the bad setting: a trial's first seed is set against the others' first seeds (the same
    # seed), never a single draw against means, which would prune a setting as good as the best.
    for trial in pruned:  # stopped at its first seed's first validation; its second seed never ran
        assert trial.params["optimizer.lr"] == 2.0 and list(trial.intermediate_values) == [2]
        (job,) = folders[trial.number]
        assert (job / "PRUNED").read_text().startswith("stopped at step 2")
    for trial in (t for t in trials if t.state == TrialState.COMPLETE):
        assert len(folders[trial.number]) == 2 and len(trial.user_attrs["seed_values"]) == 2
