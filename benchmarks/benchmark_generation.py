"""Print greedy generation speed with the KV cache vs the seed's uncached loop, as JSON.

    python scripts/benchmark_generation.py [--prompt-tokens 64] [--new-tokens 128] [--repeats 2]

Runs the seed loop (fp32, as the chapter) and the KV cache in fp32 and bf16, side by side.
Uses a randomly initialised GPT-2 small (124M); no checkpoint needed.
"""

import json

from benchmarks.generation_vs_seed import benchmark_generation
from gpt_experiments.cli.arguments import CommandParser, first_paragraph, positive_int


def main() -> None:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument("--prompt-tokens", type=positive_int, default=64)
    parser.add_argument("--new-tokens", type=positive_int, default=128)
    parser.add_argument(
        "--repeats", type=positive_int, default=2, help="runs of each method; the fastest counts"
    )
    args = parser.parse_args()
    result = benchmark_generation(
        prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens, repeats=args.repeats
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
