"""Download an OpenAI GPT-2 checkpoint folder (its seven files), or HellaSwag's validation
file (``python scripts/download_gpt2.py`` or ``gpt-download``).

An interrupted download resumes when run again; a failing mirror falls back to the next.
Examples:
  python scripts/download_gpt2.py 124M --dest models/
  python scripts/download_gpt2.py hellaswag --dest data/   # data/hellaswag_val.jsonl
"""

from __future__ import annotations

import argparse

from gpt_experiments.cli.arguments import CommandParser, path_argument
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.convert.download import MODEL_SIZES, download_gpt2, download_hellaswag


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*MODEL_SIZES, "hellaswag"], help="a GPT-2 model size, or hellaswag")
    parser.add_argument(
        "--dest",
        type=path_argument,
        default=None,
        help="folder that receives <size>/ (default: models) or the file (default: data)",
    )
    args = parser.parse_args(argv)
    if args.what == "hellaswag":
        print(f"HellaSwag's validation file is {download_hellaswag(args.dest or 'data')}")
        return
    folder = download_gpt2(args.what, args.dest or "models")
    print(f"GPT-2 {args.what} is in {folder}")
