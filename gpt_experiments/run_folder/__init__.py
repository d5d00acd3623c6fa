"""The files a run leaves in its folder that other commands read: the history CSV and the
FAILED / PRUNED markers."""
