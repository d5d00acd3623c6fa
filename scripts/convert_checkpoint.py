"""`python scripts/convert_checkpoint.py`: runs gpt_experiments/cli/convert.py

(also installed as `gpt-convert`.)
"""

from gpt_experiments.cli.convert import main

if __name__ == "__main__":
    main()
