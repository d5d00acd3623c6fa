"""Sweeps: job folders, failed jobs, memory over many jobs, and compare_runs (Optuna: test_search.py)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gpt_experiments.config import MAX_JOB_DIRNAME_CHARS, job_dirname
from gpt_experiments.errors import UserError
from gpt_experiments.run_folder.history import HISTORY_FIELDS
from gpt_experiments.run_folder.status import mark_failed
from gpt_experiments.runs.compare import common_overrides, compare_runs, format_table
from gpt_experiments.training.compose import check_sweep
from gpt_experiments.training.hparams import HPARAMS_METRICS, command_line_of_job
from tests.conftest import CONF_DIR
from tests.helpers import run_script
from tests.helpers.tensorboard_server import serve_tensorboard, served_hparams

# Two short epochs per job (two validations, so best and final can differ): a few seconds each.
SWEEP_JOB = [
    "model=tiny",
    "model.context_length=32",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "sampler.max_new_tokens=2",
]


def sweep_dir_of(cwd: Path) -> Path:
    """The one sweep folder a `-m` run launched from ``cwd`` made."""
    (sweep,) = cwd.glob("outputs/multirun/*/*")
    return sweep


def job_dirs_of(sweep: Path) -> list[Path]:
    return sorted(
        (p for p in sweep.iterdir() if (p / ".hydra").is_dir()), key=lambda p: int(p.name.split("_")[0])
    )


# --- job folder names -------------------------------------------------------------------


def test_job_dirname_keeps_the_last_key_part_and_floats_to_3_significant_digits():
    optuna_like = "model.drop_rate=0.1,optimizer.lr=0.0010684874790620226"
    assert job_dirname(0, optuna_like) == "0_drop_rate-0.1+lr-0.00107"
    assert job_dirname(3, "optimizer.lr=3e-4,trainer.max_steps=1000") == "3_lr-0.0003+max_steps-1000"
    assert job_dirname(1, "model.drop_rate=0.0,optimizer.lr=1e-05") == "1_drop_rate-0+lr-1e-05"
    assert job_dirname("15-02-11_482913", "") == "15-02-11_482913"  # a run without overrides


def test_job_dirname_makes_values_safe():
    path = "data.path=/data/my corpus.txt,model=tiny"
    assert job_dirname(2, path) == "2_path-_data_my_corpus.txt+model-tiny"
    assert "/" not in job_dirname(0, "+trainer.default_root_dir=/a/b")
    assert re.fullmatch(r"[\w.+-]+", job_dirname(0, "data.path='a b/c:d',x=[1,2]"))


def test_job_dirname_is_cut_to_a_safe_length():
    long = ",".join(f"model.key{i}=value{i}" for i in range(50))
    assert len(job_dirname(12, long)) == MAX_JOB_DIRNAME_CHARS


def test_sweep_job_names_and_hparams_hold_only_the_keys_that_vary():
    fixed = ["model=tiny", "debug=limit", "paths.log_dir=/x"]
    swept = ["optimizer.lr=1e-3,3e-3", "model.drop_rate=0,0.1"]
    hydra_overrides = check_sweep(CONF_DIR, "train", [*fixed, *swept])
    job = [*fixed, "optimizer.lr=3e-3", "model.drop_rate=0.1"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*job, hydra_overrides[-1]], return_hydra_config=True)
    assert job_dirname(3, cfg.hydra.job.override_dirname) == "3_drop_rate-0.1+lr-0.003"
    swept = command_line_of_job(cfg.hydra)
    assert swept.swept == ["optimizer.lr", "model.drop_rate"] and swept.model_option == "tiny"


# --- launchers and search --------------------------------------------------------------


@pytest.mark.parametrize(
    "choice, launcher",
    [("local_parallel", "JoblibLauncher"), ("slurm", "SlurmLauncher"), ("basic", "BasicLauncher")],
)
def test_launcher_configs_extend_the_hydra_plugins(choice, launcher):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={choice}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(f".{launcher}")


# --- compare_runs on hand-made run folders ---------------------------------------------


def fake_run(root: Path, name: str, overrides: list[str], val_losses: list[float]) -> Path:
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    # The config these overrides would give, in miniature: settings are told apart by it.
    OmegaConf.save(OmegaConf.from_dotlist(overrides), run_dir / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    if val_losses:
        with open(run_dir / "history.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HISTORY_FIELDS)
            for step, loss in enumerate(val_losses, start=1):
                writer.writerow([step, step, 64 * step, math.nan, loss, math.exp(loss)])
    return run_dir


def test_compare_ranks_by_best_val_loss_and_lists_failed_runs_last(tmp_path):
    fake_run(tmp_path, "0_lr=0.1", ["model=tiny", "optimizer.lr=0.1"], [5.0, 4.0, 4.5])
    fake_run(tmp_path, "1_lr=0.2", ["model=tiny", "optimizer.lr=0.2"], [4.2, 4.1])
    fake_run(tmp_path, "2_lr=9", ["model=tiny", "optimizer.lr=9"], [])  # crashed without a marker
    mark_failed(fake_run(tmp_path, "3_lr=-1", ["model=tiny", "optimizer.lr=-1"], []), "lr must be > 0")

    records, comparison = compare_runs(tmp_path)

    assert [r.name for r in records[:2]] == ["0_lr=0.1", "1_lr=0.2"]
    assert {r.name for r in records[2:]} == {"2_lr=9", "3_lr=-1"}
    assert (records[0].best_val_loss, records[0].final_val_loss) == (4.0, 4.5)
    assert common_overrides(records) == ["model=tiny"]
    assert [r.failed for r in records] == [False, False, True, True]
    table = format_table(comparison)
    assert "optimizer.lr=-1: lr must be > 0" in table and "FAILED  optimizer.lr=9: no validation" in table
    with open(tmp_path / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["status"]) for r in rows] == [
        ("1", "ok"),
        ("2", "ok"),
        ("", "failed"),
        ("", "failed"),
    ]
    assert (tmp_path / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_finds_single_runs_in_nested_folders(tmp_path):
    fake_run(tmp_path, "2026-01-01/10-00-00_000001", [], [3.0])
    fake_run(tmp_path, "2026-01-02/09-00-00_000002", [], [2.0])
    records, _ = compare_runs(tmp_path)
    assert [r.name for r in records] == ["2026-01-02/09-00-00_000002", "2026-01-01/10-00-00_000001"]


def test_compare_without_runs_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no runs under"):
        compare_runs(tmp_path)
    result = run_script("compare_runs.py", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing'} is not a folder: give a "
        "sweep folder (outputs/multirun/...) or outputs/runs"
    ]


# --- real sweeps ------------------------------------------------------------------------


@pytest.mark.slow
def test_grid_sweep_names_jobs_by_what_varies_and_tensorboard_serves_their_hparams(tmp_path):
    result = run_script(
        "train.py", "-m", *SWEEP_JOB, "optimizer.lr=1e-3,1e-2", "model.drop_rate=0.0,0.1", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_dir_of(tmp_path)
    jobs = job_dirs_of(sweep)
    assert [job.name for job in jobs] == [
        "0_drop_rate-0+lr-0.001",
        "1_drop_rate-0.1+lr-0.001",
        "2_drop_rate-0+lr-0.01",
        "3_drop_rate-0.1+lr-0.01",
    ]

    # What TensorBoard itself serves in its HParams tab for the sweep folder.
    with serve_tensorboard(sweep) as url:
        experiment, groups = served_hparams(url, runs=len(jobs))
    columns = [info["name"] for info in experiment["hparamInfos"]]
    assert columns[:2] == ["model.drop_rate", "optimizer.lr"]  # the swept keys lead, marked as differing
    assert [info["name"] for info in experiment["hparamInfos"] if info.get("differs")] == columns[:2]
    assert {"model.n_layers", "model.emb_dim", "data.batch_size", "trainer.precision"} <= set(columns)
    assert "seed" not in columns  # a row is a setting, whatever its seeds
    never = ("paths", "data.path", "data.cache_dir", "trainer.enable")
    assert not any(key.startswith(never) for key in columns)
    assert len(columns) <= 16
    assert [m["name"]["tag"] for m in experiment["metricInfos"]] == list(HPARAMS_METRICS)
    # One row (session group) per setting, each holding its one run, named by its job folder.
    assert [len(group["sessions"]) for group in groups] == [1] * len(jobs)
    assert sorted(group["sessions"][0]["name"] for group in groups) == [job.name for job in jobs]
    served = {}
    for group in groups:
        run = group["sessions"][0]["name"]
        saved = OmegaConf.load(sweep / run / ".hydra" / "overrides.yaml")
        overrides = dict(o.split("=") for o in saved)
        assert group["hparams"]["optimizer.lr"] == pytest.approx(float(overrides["optimizer.lr"]))
        assert group["hparams"]["model.drop_rate"] == pytest.approx(float(overrides["model.drop_rate"]))
        metrics = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(metrics) == set(HPARAMS_METRICS) and all(math.isfinite(v) for v in metrics.values())
        assert group["sessions"][0]["status"] == "STATUS_SUCCESS"
        served[run] = metrics

    # The sweep ends with the comparison; it ranks as TensorBoard shows, with the same tokens/s.
    assert f"Sweep finished: {sweep.relative_to(tmp_path)}" in result.stdout
    assert "Shared by all runs: model=tiny" in result.stdout
    with open(sweep / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["run"] for row in rows] == sorted(served, key=lambda run: served[run]["run/best_val_loss"])
    for row in rows:
        tokens_per_sec = served[row["run"]]["run/tokens_per_sec"]
        assert float(row["tokens_per_sec"]) == pytest.approx(tokens_per_sec, rel=1e-6)
        # ... and the job's own closing summary printed the same number.
        job_folder = sweep.relative_to(tmp_path) / row["run"]
        job_summary = result.stdout.split(f"Run folder:       {job_folder}\n")[1]
        printed = re.search(r"([\d,]+) tokens/s training", job_summary).group(1)
        assert float(printed.replace(",", "")) == pytest.approx(tokens_per_sec, rel=0.05, abs=1)


@pytest.mark.slow
def test_a_failing_job_is_reported_and_marked_while_the_others_finish(tmp_path):
    result = run_script("train.py", "-m", *SWEEP_JOB, "data.stride=0,16", cwd=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and errors[0].startswith("error: data.stride=0 is invalid")
    failed, finished = job_dirs_of(sweep_dir_of(tmp_path))
    # Both jobs ran; then the sweep says how many failed, and exits 1.
    assert result.returncode == 1
    assert errors[1].startswith("error: 1 of 2 jobs failed (each left its error in a FAILED file)")
    assert errors[1].endswith(f"the first: {failed.relative_to(tmp_path)}")
    assert (failed / "FAILED").read_text().startswith("data.stride=0 is invalid")
    assert not (finished / "FAILED").exists() and (finished / "history.csv").is_file()

    result = run_script("compare_runs.py", str(sweep_dir_of(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ": 2 (1 failed)" in result.stdout
    assert "FAILED  data.stride=0: data.stride=0 is invalid" in result.stdout


@pytest.mark.slow
def test_memory_stays_flat_over_ten_jobs_in_one_process(tmp_path):
    """The basic launcher runs every job in this one process: what a job leaves behind adds up."""
    memory_log = tmp_path / "memory.txt"
    result = run_script(
        "train.py",
        "-m",
        *SWEEP_JOB,
        "callbacks.text_samples=null",
        "trainer.limit_val_batches=2",
        "trainer.num_sanity_val_steps=0",
        "seed=range(10)",
        "+hydra.callbacks.memory._target_=tests.helpers.memory_probe.MemoryAfterEachJob",
        f"+hydra.callbacks.memory.path={memory_log}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in memory_log.read_text().splitlines()]
    rss_mb = [int(rss) / 2**20 for rss, _ in rows]
    live_modules = [int(modules) for _, modules in rows]
    print("RSS after each job (MB):", " ".join(f"{mb:.0f}" for mb in rss_mb))
    print("Live torch modules after each job:", live_modules)
    assert len(rows) == 10
    # No job leaves its model behind...
    assert live_modules == [0] * 10
    # ...and the process does not grow steadily: keeping each job's model and optimizer would add
    # about 20 MB a job. The first jobs warm caches (imports, allocator pools); the resident size
    # then moves by about +-50 MB from job to job, hence a loose bound on the averages.
    assert sum(rss_mb[-3:]) / 3 - sum(rss_mb[2:5]) / 3 < 100, rss_mb


@pytest.mark.parametrize(
    "neutral",
    ["trainer.enable_progress_bar=false", "paths.log_dir=elsewhere", "logger.name=x", "data.num_workers=2"],
)
def test_keys_that_never_change_results_stay_out_of_folder_names(neutral):
    # One list decides it (result_keys.py), whatever conf/hydra/default.yaml's exclude_keys hold.
    assert job_dirname(3, f"optimizer.lr=0.003,{neutral}") == "3_lr-0.003"
