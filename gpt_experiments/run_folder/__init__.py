"""The files a run leaves in its folder that other commands read: the history CSV, the
FAILED / PRUNED markers and the config Hydra saved."""
