"""`python scripts/consolidate_checkpoint.py`: runs gpt_experiments/cli/consolidate.py

(also installed as `gpt-consolidate`.)
"""

from gpt_experiments.cli.consolidate import main

if __name__ == "__main__":
    main()
