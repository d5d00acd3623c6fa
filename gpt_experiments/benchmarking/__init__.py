"""Throughput and memory benchmarks behind ``scripts/benchmark.py``."""
