"""Hyperparameter search with Optuna: search spaces from Hydra overrides, the study's storage."""
