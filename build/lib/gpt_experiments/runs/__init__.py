"""Runs after the fact: what a run folder holds, whether it failed, and comparing runs."""
