"""Convert GPT-2 weights between OpenAI, Hugging Face and gpt-experiments checkpoints
(``python scripts/convert_checkpoint.py`` or ``gpt-convert``).

Examples:
  python scripts/convert_checkpoint.py models/124M gpt2-124M.ckpt --to project
  python scripts/convert_checkpoint.py models/124M hf/gpt2-124M --to huggingface
  python scripts/convert_checkpoint.py runs/my-run hf/my-run --to huggingface
"""

from __future__ import annotations

import argparse

from gpt_experiments.cli.arguments import CommandParser, path_argument
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.convert.formats import READERS, WRITERS, convert


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "source", type=path_argument, help="OpenAI folder, Hugging Face folder, or project .ckpt / run folder"
    )
    parser.add_argument(
        "dest",
        type=path_argument,
        help="output: a .ckpt file for --to project, a folder for --to huggingface",
    )
    parser.add_argument("--to", required=True, choices=WRITERS, help="output format")
    parser.add_argument("--from", dest="fmt", default="auto", choices=["auto", *READERS], help="input format")
    parser.add_argument("--overwrite", action="store_true", help="replace files already at dest")
    args = parser.parse_args(argv)
    written = convert(args.source, args.dest, to=args.to, fmt=args.fmt, overwrite=args.overwrite)
    print(f"wrote {written}")
