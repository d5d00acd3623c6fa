"""Lightning callbacks of a training run: what it reports (loss history and plots, text
samples, throughput) and what keeps it safe (NaN guard, signals, RNG state, pretrained init)."""
