"""Train a GPT-2: ``python scripts/train.py model=gpt2_small trainer.max_epochs=10`` (or ``gpt-train``).

Sweeps: ``python scripts/train.py -m optimizer.lr=1e-4,4e-4 model.drop_rate=0,0.1``.
Every run writes its config, provenance.json, train.log, TensorBoard logs (or another tracker's:
``logger=csv|mlflow|wandb|many``), checkpoints and plots under outputs/;
a run that fails leaves a FAILED file with the error instead. See docs/sweeps.md.
Continue an interrupted run: ``python scripts/train.py ... resume=auto`` (see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gpt_experiments.cli.handler import exits_on_user_error, path_overrides_in_argv, user_error_message
from gpt_experiments.config import CONF_DIR, register_resolvers
from gpt_experiments.run_folder.provenance import remember_command
from gpt_experiments.run_folder.status import clear_failed, mark_failed
from gpt_experiments.training.compose import check_sweep, compose_config
from gpt_experiments.training.run_lock import lock_run_dir, release_run_dir

# The training stack (torch, Lightning: several seconds to import) is imported in the
# functions that need it, once the command line has composed into a config: a mistyped key
# or group option is reported in about a second instead of after that wait.

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def run_job(cfg: DictConfig) -> float:
    """One run (or one job of a sweep) in the folder Hydra made for it."""
    from gpt_experiments.training.callbacks.signals import TrainingInterrupted
    from gpt_experiments.training.console_log import console_saved_in
    from gpt_experiments.training.hparams import command_line_of_job
    from gpt_experiments.training.run import train

    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    with console_saved_in(output_dir):  # the run's printed lines, its error included
        try:
            lock_run_dir(output_dir)  # already held when resuming: taken before Hydra wrote here
            command_line = command_line_of_job(hydra_cfg)
            best = train(cfg, output_dir, command_line, sweep_dir=hydra_cfg.sweep.dir if multirun else None)
            clear_failed(output_dir)  # a resumed run that reached its end is no longer failed
            return best
        except Exception as err:
            message = user_error_message(err)
            # compare_runs lists the run as failed, whatever the cause; a folder that cannot take
            # the marker (read-only, full) must not hide the error itself.
            with contextlib.suppress(OSError):
                mark_failed(output_dir, message or f"{type(err).__name__}: {err}")
            if message is None:
                raise  # a bug, not a bad setting: keep the traceback
            # Ctrl-C (or a scheduler's SIGTERM) stops the whole sweep; one bad point of a grid
            # must not stop the other jobs: report it and go on.
            stops_sweep = isinstance(err, TrainingInterrupted)
            if multirun and stops_sweep:
                message += " (the sweep stops here: its remaining jobs did not run)"
            print(f"error: {message}", file=sys.stderr)
            if multirun and not stops_sweep:
                return float("inf")
            sys.exit(1)
        finally:
            release_run_dir(output_dir)


@exits_on_user_error
def check_command_line() -> bool:
    """Validate the overrides (and resolve resume=) before Hydra makes a run folder; whether
    there is anything to run.

    For ``-m`` only keys and group options are checked here (and the keys fixed for the
    whole sweep left out of job names); each job's values are checked by ``train()``.
    Hydra's other flags (``--cfg``, ``--help``, ...) are left to Hydra.
    """
    path_overrides_in_argv()
    flags = {arg for arg in sys.argv[1:] if arg.startswith("-")}
    overrides = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if not flags:
        cfg = compose_config(CONF_DIR, "train", overrides)  # Hydra-level mistakes, before the slow imports
        from gpt_experiments.training.launch import prepare_run

        prepared = prepare_run(CONF_DIR, "train", overrides, composed=cfg)
        if prepared is None:
            return False
        sys.argv[1:] = prepared
    elif flags <= {"-m", "--multirun"}:
        sys.argv[1:] = [*flags, *check_sweep(CONF_DIR, "train", overrides)]
    return True


def main() -> None:
    remember_command(sys.argv)  # provenance.json's command: as typed, before resume= rewrites it
    if check_command_line():
        run_job()
