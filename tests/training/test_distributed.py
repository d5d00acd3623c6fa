"""Scale-out configs: real two-process DDP on CPU, and the FSDP strategy's wrapping."""

import json

import pytest
from hydra.utils import instantiate
from lightning.pytorch.strategies import FSDPStrategy

from gpt_experiments.model import Block
from tests.helpers import TINY_RUN, run_script


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ddp_ranks_train_on_different_batches_and_end_with_identical_weights(tmp_path, compiled):
    """Compiled too: inductor in each rank, DDP's bucketed gradient averaging around the graph."""
    probe_dir = tmp_path / "probe"
    result = run_script(
        "train.py",
        *TINY_RUN,
        f"compile={str(compiled).lower()}",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=12",
        "trainer.limit_val_batches=2",
        "~logger",
        "callbacks.text_samples=null",
        "+callbacks.rank_probe._target_=tests.helpers.ddp_probe.RankProbe",
        f"+callbacks.rank_probe.out_dir={probe_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((probe_dir / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert len(ranks[0]["batches"]) == len(ranks[1]["batches"]) == 12
    assert not set(ranks[0]["batches"]) & set(ranks[1]["batches"])  # each rank its own share
    assert ranks[0]["weights"] == ranks[1]["weights"]  # gradients were averaged every step
    # Rank 0 alone writes the run's records: one start, no resume entry from rank 1, one log.
    record = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert (record["settings"]["devices"], record["settings"]["strategy"]) == (2, "DDPStrategy")
    assert record["settings"]["compile"] is compiled
    assert record["resumes"] == [] and record["outcome"] == "finished"
    assert (tmp_path / "run" / "train.log").read_text().count("Run folder:") == 1


def test_fsdp_config_shards_blocks_and_keeps_the_tied_head_in_the_root_unit(compose_train):
    cfg = compose_train("trainer=fsdp", "model=gpt2_large")
    strategy = instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    policy = strategy.kwargs["auto_wrap_policy"]
    assert policy._module_classes == {Block}  # wte/wpe/ln_f/lm_head are not Blocks: root unit
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.num_nodes == 1
