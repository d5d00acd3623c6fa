"""Download an OpenAI GPT-2 checkpoint folder, its seven files
(``python scripts/download_gpt2.py`` or ``gpt-download``).

An interrupted download resumes when run again; a failing mirror falls back to the next.
Example: python scripts/download_gpt2.py 124M --dest models/
"""

from __future__ import annotations

import argparse

from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.convert.download import MODEL_SIZES, download_gpt2


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("size", choices=MODEL_SIZES, help="model size")
    parser.add_argument("--dest", default="models", help="folder that receives <size>/ (default: models)")
    args = parser.parse_args(argv)
    folder = download_gpt2(args.size, args.dest)
    print(f"GPT-2 {args.size} is in {folder}")
