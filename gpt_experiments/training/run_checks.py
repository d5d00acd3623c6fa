"""Checks that a config can run here, made before any folder exists.

Types and ranges of each group are checked in ``config_checks``; these are the failures
that otherwise surface only once Hydra has made the run folder: a setting the optimizer
class itself refuses, an accelerator this machine lacks, a pretrained ``init`` without
its path.
"""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig
from torch import nn

from gpt_experiments.config import resolved_values
from gpt_experiments.errors import ConfigError
from gpt_experiments.training.optimizers import build_optimizer


def check_run_settings(cfg: DictConfig) -> None:
    """Raise a one-line ``ConfigError`` for a config that would fail or do nothing once started."""
    if "trainer" in cfg:
        check_accelerator(cfg.trainer.get("accelerator", "auto"))
    if "optimizer" in cfg:
        check_optimizer(resolved_values(cfg.optimizer, "optimizer"))
        if "trainer" in cfg:
            check_muon_strategy(cfg.optimizer.get("_target_", ""), cfg.trainer.get("strategy"))
    if cfg.get("init") is not None:
        resolved_values(cfg.init, "init")  # names an unset init.path


def check_muon_strategy(optimizer_target: str, strategy: Any) -> None:
    """Muon orthogonalises each weight matrix whole; FSDP holds a slice of it on each rank."""
    named = strategy.get("_target_", "") if isinstance(strategy, DictConfig) else str(strategy)
    if optimizer_target.endswith(".MuonWithAdamW") and "fsdp" in named.lower():
        raise ConfigError(
            "optimizer=muon orthogonalises whole weight matrices, which FSDP shards across ranks: "
            "train it with trainer=ddp or on one device"
        )


def accelerator_available(name: Any) -> bool:
    """Whether Lightning's ``accelerator=name`` can run here (``auto``, ``cpu`` always can)."""
    # Imported here: the train command makes the checks that need no Lightning before it
    # loads Lightning (seconds), so a wrong checkpoint path is reported without that wait.
    from lightning.pytorch.accelerators import AcceleratorRegistry, CUDAAccelerator, MPSAccelerator

    if not isinstance(name, str):
        return True  # an Accelerator object: Lightning checks it
    if name == "gpu":  # Lightning's alias for CUDA or Apple's MPS
        return CUDAAccelerator.is_available() or MPSAccelerator.is_available()
    if name in AcceleratorRegistry:
        return AcceleratorRegistry[name]["accelerator"].is_available()
    return True


def check_accelerator(name: Any) -> None:
    if not accelerator_available(name):
        raise ConfigError(
            f"trainer.accelerator={name} is not available on this machine: "
            "use trainer.accelerator=auto (or cpu)"
        )


def check_optimizer(spec: dict[str, Any]) -> None:
    """Build the optimizer over a stand-in block (a matrix and a vector, named like the GPT's,
    so Muon's and AdamW's settings are both built): a value torch refuses is refused now."""
    try:
        build_optimizer(nn.ModuleDict({"h": nn.Linear(2, 2)}), spec)
    except InstantiationException as err:
        refusal = err.__cause__
        if not isinstance(refusal, ValueError):
            raise  # not a refused value: a bug, keep the traceback
        raise ConfigError(
            f"{spec['_target_']} refused the optimizer settings ({refusal}): fix that optimizer.* value"
        ) from None
