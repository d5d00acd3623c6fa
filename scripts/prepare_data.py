"""`python scripts/prepare_data.py`: runs gpt_experiments/cli/prepare_data.py

(also installed as `gpt-prepare-data`.)
"""

from gpt_experiments.cli.prepare_data import main

if __name__ == "__main__":
    main()
