"""Gather a sharded checkpoint folder into one file: ``python scripts/consolidate_checkpoint.py
<run>/checkpoints/last.ckpt model.ckpt`` (or ``gpt-consolidate``).

The file holds the full weights and the run's settings, so generate, evaluate and
convert_checkpoint read it like any other checkpoint. See docs/scaling.md.
"""

from __future__ import annotations

from gpt_experiments.checkpoints.sharded import consolidate
from gpt_experiments.cli.arguments import CommandParser, first_paragraph, path_argument
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.files import check_outputs_free


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "sharded", type=path_argument, help="a folder written with trainer.strategy.checkpoint=sharded"
    )
    parser.add_argument("output", type=path_argument, help="the single checkpoint file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a file already at output")
    args = parser.parse_args(argv)
    check_outputs_free([args.output], args.overwrite)
    checkpoint = consolidate(args.sharded, args.output)
    print(
        f"Wrote {args.output}: step {checkpoint.get('global_step')}, {len(checkpoint['state_dict'])} tensors"
    )
