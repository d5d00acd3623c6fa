"""Using a trained model: sampling with a KV cache, text in and out, bf16 precision,
loading any checkpoint format, and sliding-window perplexity."""
