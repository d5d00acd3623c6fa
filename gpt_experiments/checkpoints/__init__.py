"""Checkpoints: the project's own format and safe loading (project), Lightning's
checkpoint IO (lightning_io), sharded checkpoints (sharded, read safely by safe_dcp) and which
files are kept (retention)."""
