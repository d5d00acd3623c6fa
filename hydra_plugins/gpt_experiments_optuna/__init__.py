"""The project's Optuna sweeper for Hydra (``hydra/sweeper: gpt_optuna``), on a current Optuna.

Hydra finds it because it lives in the ``hydra_plugins`` namespace package; see docs/sweeps.md.
"""
