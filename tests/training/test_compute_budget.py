"""The FLOPs budget and the size ladder as settings: what they compose to and what they refuse."""

import lightning as L
import numpy as np
import pytest
from torch.utils.data import DataLoader

from gpt_experiments.config import register_resolvers
from gpt_experiments.data.windows import TokenWindows
from gpt_experiments.errors import ConfigError
from gpt_experiments.training.callbacks.validate_at_end import ValidateAtLastStep
from gpt_experiments.training.config_checks import architecture_values, validate_settings, validate_targets
from gpt_experiments.training.lit_module import GPTLitModule
from tests.helpers import quiet_trainer

TINY = dict(vocab_size=101, context_length=8, emb_dim=12, n_heads=3, n_layers=2, drop_rate=0.0)

register_resolvers()


@pytest.mark.parametrize(("depth", "width"), [(2, 128), (3, 192), (6, 384)])
def test_the_ladder_sets_depth_width_and_64_channel_heads_from_one_number(compose_train, depth, width):
    model = architecture_values(compose_train("model=ladder", f"model.depth={depth}").model)
    assert (model["n_layers"], model["emb_dim"], model["n_heads"]) == (depth, width, depth)
    assert "depth" not in model and "head_dim" not in model  # knobs, not GPTConfig's arguments


def test_the_ladder_head_width_is_a_second_knob(compose_train):
    model = architecture_values(compose_train("model=ladder", "model.depth=5", "model.head_dim=8").model)
    assert (model["n_layers"], model["emb_dim"], model["n_heads"]) == (5, 40, 5)


def test_both_budgets_at_once_are_one_error(compose_train):
    cfg = compose_train("model=tiny", "max_tokens=1000", "max_flops=1e12")
    with pytest.raises(ConfigError, match=r"^max_tokens=1000 and max_flops=1e\+12 are two budgets .*set one"):
        validate_settings(cfg)


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("-1e9", r"-1e\+09"), ("lots", "lots")])
def test_a_budget_must_be_a_positive_number(compose_train, value, shown):
    with pytest.raises(ConfigError, match=f"^max_flops={shown} is invalid: it must be a positive number"):
        validate_settings(compose_train("model=tiny", f"max_flops={value}"))


def test_a_budget_ends_a_run_whose_trainer_has_no_limit(compose_train):
    unlimited = ("model=tiny", "trainer.max_epochs=null", "trainer.max_steps=-1")
    validate_targets(compose_train(*unlimited, "max_flops=1e12"))  # the budget ends it
    with pytest.raises(ConfigError, match="leave the run without an end"):
        validate_targets(compose_train(*unlimited))


class StepsOfValidations(L.Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.steps.append(trainer.global_step)


@pytest.mark.parametrize(
    ("callbacks", "expected"), [([], []), ([ValidateAtLastStep()], [3])], ids=["plain", "budget"]
)
def test_a_budgeted_run_validates_at_its_last_step_mid_epoch(callbacks, expected):
    module = GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3})
    tokens = np.random.default_rng(0).integers(0, 101, 400).astype(np.uint16)
    loader = DataLoader(TokenWindows(tokens, max_length=8, stride=8), batch_size=4)  # 12 batches an epoch
    validations = StepsOfValidations()
    trainer = quiet_trainer(max_steps=3, num_sanity_val_steps=0, callbacks=[*callbacks, validations])
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    assert validations.steps == expected
