"""Scaling laws from a ladder of runs: which model size and how many tokens for a compute
budget, and the loss to expect (``scripts/scaling.py``; docs/scaling_laws.md)."""
