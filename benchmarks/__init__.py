"""Speed and memory benchmarks and their baseline; not part of the installed package."""
