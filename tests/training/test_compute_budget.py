"""The FLOPs budget and the size ladder as settings: what they compose to and what they refuse."""

import pytest

from gpt_experiments.config import register_resolvers
from gpt_experiments.errors import ConfigError
from gpt_experiments.training.config_checks import architecture_values, validate_settings, validate_targets

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


@pytest.mark.parametrize("value", ["0", "-1e9", "lots"])
def test_a_budget_must_be_a_positive_number(compose_train, value):
    with pytest.raises(ConfigError, match=f"^max_flops={value} is invalid: it must be a positive number"):
        validate_settings(compose_train("model=tiny", f"max_flops={value}"))


def test_a_budget_ends_a_run_whose_trainer_has_no_limit(compose_train):
    unlimited = ("model=tiny", "trainer.max_epochs=null", "trainer.max_steps=-1")
    validate_targets(compose_train(*unlimited, "max_flops=1e12"))  # the budget ends it
    with pytest.raises(ConfigError, match="leave the run without an end"):
        validate_targets(compose_train(*unlimited))
