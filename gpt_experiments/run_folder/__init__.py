"""The files a run leaves in its folder that other commands read: the history CSV, the
FAILED / PRUNED markers, the config Hydra saved and the provenance record."""
