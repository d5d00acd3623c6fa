"""Download an OpenAI GPT-2 checkpoint folder (its seven files).

An interrupted download resumes when run again; a failing mirror falls back to the next.
Example: python scripts/download_gpt2.py 124M --dest models/
"""

from __future__ import annotations

import argparse
import sys

from gpt_experiments.download import MODEL_SIZES, DownloadError, download_gpt2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("size", choices=MODEL_SIZES, help="model size")
    parser.add_argument("--dest", default="models", help="folder that receives <size>/ (default: models)")
    args = parser.parse_args(argv)
    try:
        folder = download_gpt2(args.size, args.dest)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"GPT-2 {args.size} is in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
