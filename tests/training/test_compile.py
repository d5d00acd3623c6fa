"""compile=true really compiled (inductor on the CPU, no stub): the same losses as eager, an exact
resume, checkpoints eager runs load, and generation with a bounded number of recompiles.

Each compile takes seconds to tens of seconds on a CPU, so these tests are few and slow.
Tolerances: fp32 losses agree to 1e-5 relative (inductor reorders float sums); bf16-mixed
ones to 1e-3 relative (bf16 roundings at fused and unfused boundaries differ slightly).
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader

from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.callbacks.compile_time import CompileTimeReport, compile_seconds
from gpt_experiments.training.hparams import CommandLine
from gpt_experiments.training.lit_module import GPTLitModule
from gpt_experiments.training.run import build_callbacks
from tests.helpers import quiet_trainer
from tests.training.test_configs import compose_train
from tests.training.test_speed_options import LossRecorder

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)
OPTIMIZER = {"_target_": "torch.optim.AdamW", "lr": 1e-2, "weight_decay": 0.1}
BATCHES_PER_EPOCH = 3
TOLERANCE = {"32-true": 1e-5, "bf16-mixed": 1e-3}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from nothing and counts only its own graphs."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def loader() -> DataLoader:
    tokens = np.random.default_rng(0).integers(0, 101, 400).astype(np.uint16)
    return DataLoader(TokenWindows(tokens, max_length=8, stride=4), batch_size=4, shuffle=False)


def fit(
    compile_model: bool,
    precision: str = "32-true",
    tie: bool = True,
    epochs: int = 2,
    resume_from: Path | None = None,
    save_to: Path | None = None,
    callbacks: tuple = (),
) -> tuple[list[float], float, GPTLitModule]:
    """Train ``epochs`` epochs of 3 steps, validating after each; (step losses, last val loss, module)."""
    torch.manual_seed(0)
    module = GPTLitModule(
        model={**TINY, "tie_embeddings": tie}, optimizer=OPTIMIZER, compile_model=compile_model
    )
    recorder = LossRecorder()
    trainer = quiet_trainer(
        max_epochs=epochs,
        precision=precision,
        limit_train_batches=BATCHES_PER_EPOCH,
        limit_val_batches=2,
        num_sanity_val_steps=0,
        callbacks=[recorder, *callbacks],
    )
    trainer.fit(module, train_dataloaders=loader(), val_dataloaders=loader(), ckpt_path=resume_from)
    if save_to is not None:
        trainer.save_checkpoint(save_to)
    return recorder.losses, module.eval_losses()["val"], module


def compiled_graphs() -> int:
    return counters["stats"]["unique_graphs"]


@pytest.mark.slow
# Each precision and each kind of head once (all four passed on 2026-12-06; two keep the suite short).
@pytest.mark.parametrize("precision,tie", [("32-true", True), ("bf16-mixed", False)])
def test_compiled_training_and_validation_give_eager_losses(precision, tie, capsys):
    eager_losses, eager_val, _ = fit(False, precision, tie)
    assert compiled_graphs() == 0
    report = CompileTimeReport()
    losses, val, module = fit(True, precision, tie, callbacks=(report,))
    # Training (with gradients, through the fused head's autograd function) and validation
    # (summed loss, no gradients) each ran as a compiled graph, with no graph breaks.
    assert compiled_graphs() >= 2 and not counters["graph_break"]
    assert module.model._compiled_call_impl is not None
    assert losses == pytest.approx(eager_losses, rel=TOLERANCE[precision])
    assert val == pytest.approx(eager_val, rel=TOLERANCE[precision])
    assert losses[-1] < losses[0]
    first, second = report.step_seconds
    assert first > second  # the first step compiled
    assert f"compiling took about {compile_seconds(first, second):.1f} s" in capsys.readouterr().out


@pytest.mark.slow
def test_compiled_run_resumes_exactly_and_its_checkpoints_are_eager_ones(tmp_path):
    uninterrupted, _, _ = fit(True, epochs=2)
    checkpoint = tmp_path / "epoch1.ckpt"
    first_leg, _, _ = fit(True, epochs=1, save_to=checkpoint)
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    eager_module = GPTLitModule(model=TINY, optimizer=OPTIMIZER)
    # Compiled in place: no "_orig_mod." prefix, the same names as an eager module's.
    assert set(state) == set(eager_module.state_dict())
    resumed, _, _ = fit(True, epochs=2, resume_from=checkpoint)
    assert first_leg + resumed == uninterrupted  # the same graphs, so bit for bit
    resumed_eager, _, _ = fit(False, epochs=2, resume_from=checkpoint)
    assert resumed_eager == pytest.approx(uninterrupted[BATCHES_PER_EPOCH:], rel=TOLERANCE["32-true"])


@pytest.mark.slow
def test_compiled_generation_with_kv_cache_recompiles_a_bounded_number_of_times():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**TINY, "context_length": 32}))
    prompts = {4: [[1, 2, 3, 4]], 6: [[5, 6, 3, 4, 9, 9]]}
    sampler = SamplerConfig(max_new_tokens=12)
    expected = {length: generate(model, prompt, sampler) for length, prompt in prompts.items()}
    model.compile()
    assert generate(model, prompts[4], sampler) == expected[4]
    # The prompt's graph and the one-token step's, its cache length made dynamic after a recompile.
    after_first = compiled_graphs()
    assert after_first <= 3
    # A new prompt length: the prompt's length becomes dynamic too; then nothing compiles again.
    assert generate(model, prompts[6], sampler) == expected[6]
    after_second = compiled_graphs()
    assert after_second <= after_first + 2
    longer = SamplerConfig(max_new_tokens=20)
    generate(model, [[7, 7, 7, 7, 7, 7, 7, 7, 7]], longer)
    assert compiled_graphs() == after_second


@pytest.mark.parametrize("compile_setting", [True, False])
def test_the_train_entry_point_reports_compile_time_only_for_compiled_runs(compile_setting, tmp_path):
    cfg = compose_train([f"compile={compile_setting}", "model=tiny"], tmp_path)
    callbacks = build_callbacks(cfg, tmp_path, CommandLine())
    assert any(isinstance(cb, CompileTimeReport) for cb in callbacks) == compile_setting


def test_compile_seconds_are_the_first_step_less_a_compiled_one():
    assert compile_seconds(31.5, 0.25) == 31.25
    assert compile_seconds(0.2, 0.3) == 0.0  # nothing compiled: timing noise is not a compile time
