"""Convert GPT-2 weights between OpenAI, Hugging Face and gpt-experiments checkpoints.

Examples:
  python scripts/convert_checkpoint.py models/124M gpt2-124M.ckpt --to project
  python scripts/convert_checkpoint.py models/124M hf/gpt2-124M --to huggingface
  python scripts/convert_checkpoint.py runs/my-run hf/my-run --to huggingface
"""

from __future__ import annotations

import argparse
import sys

from gpt_experiments.checkpoint_io import CheckpointError
from gpt_experiments.convert.formats import READERS, WRITERS, convert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="OpenAI folder, Hugging Face folder, or project .ckpt / run folder")
    parser.add_argument("dest", help="output: a .ckpt file for --to project, a folder for --to huggingface")
    parser.add_argument("--to", required=True, choices=WRITERS, help="output format")
    parser.add_argument("--from", dest="fmt", default="auto", choices=["auto", *READERS], help="input format")
    args = parser.parse_args(argv)
    try:
        written = convert(args.source, args.dest, to=args.to, fmt=args.fmt)
    except (CheckpointError, OSError) as err:  # e.g. a bad file, or no room or rights to write
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
