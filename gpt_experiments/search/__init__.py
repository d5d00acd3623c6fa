"""Hyperparameter search with Optuna: search spaces from Hydra overrides, the study's storage."""

# The job config key through which the sweeper tells each job its trial number (for the pruning
# callback); set in conf/hparams_search/*.yaml as hydra.sweeper.trial_number_key. Bookkeeping, not
# a setting: left out of job folder names and of compare_runs' overrides.
TRIAL_NUMBER_KEY = "callbacks.optuna_pruning.trial_number"
