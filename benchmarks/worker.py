"""One measurement in a fresh process: ``python -m benchmarks.worker SECTION JSON``.

Prints the result as one JSON line starting with ``RESULT``, after whatever the run logs.
"""

from __future__ import annotations

import json
import sys

from benchmarks.compile_speed import measure_compile_speed
from benchmarks.data_speed import measure_preparation, measure_tokenization, measure_window_memory
from benchmarks.generation_vs_seed import benchmark_generation
from benchmarks.step_profile import profile_training_step
from benchmarks.training_speed import TrainSetup, measure_training
from gpt_experiments.model import GPTConfig

SECTIONS = {
    "train": lambda settings: measure_training(TrainSetup(**settings)),
    "generate": lambda settings: benchmark_generation(
        GPTConfig(**{**settings["model"], "drop_rate": 0.0}), new_tokens=settings["new_tokens"]
    ),
    "profile": lambda settings: profile_training_step(**settings),
    "tokenize": lambda settings: measure_tokenization(**settings),
    "memory": lambda settings: measure_window_memory(**settings),
    "prepare": lambda settings: measure_preparation(**settings),
    "compile": lambda settings: measure_compile_speed(**settings),
}


def main() -> None:
    section, settings = sys.argv[1], json.loads(sys.argv[2])
    print("RESULT " + json.dumps(SECTIONS[section](settings)), flush=True)


if __name__ == "__main__":
    main()
