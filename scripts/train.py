"""Train a GPT-2: `python scripts/train.py model=gpt2_small trainer.max_epochs=10`.

Sweeps: `python scripts/train.py -m optimizer.lr=1e-4,4e-4 model.drop_rate=0,0.1`.
Every run writes its config, TensorBoard logs, checkpoints and plots under outputs/;
a run that fails leaves a FAILED file with the error instead. See docs/sweeps.md.
Continue an interrupted run: `python scripts/train.py ... resume=auto` (see docs/reliability.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gpt_experiments.config import register_resolvers
from gpt_experiments.errors import UserError
from gpt_experiments.launch import check_sweep, prepare_run
from gpt_experiments.run_status import mark_failed
from gpt_experiments.training import train

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    try:
        return train(cfg, output_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        mark_failed(output_dir, str(err))
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # One bad point of a grid must not stop the other jobs: report it and go on.
            return float("inf")
        sys.exit(1)
    except Exception as err:
        # A bug, not a bad setting: keep the traceback, but let compare_runs list the run as failed.
        mark_failed(output_dir, f"{type(err).__name__}: {err}")
        raise


def check_command_line() -> None:
    """Validate the overrides (and resolve resume=) before Hydra makes a run folder.

    For ``-m`` only keys and group options are checked here; each job's values are checked
    by ``train()``. Hydra's other flags (``--cfg``, ``--help``, ...) are left to Hydra.
    """
    flags = {arg for arg in sys.argv[1:] if arg.startswith("-")}
    overrides = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    try:
        if not flags:
            sys.argv[1:] = prepare_run(CONF_DIR, "train", overrides)
        elif flags <= {"-m", "--multirun"}:
            check_sweep(CONF_DIR, "train", overrides)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    check_command_line()
    main()
