"""`python scripts/train.py`: runs gpt_experiments/cli/train.py

(also installed as `gpt-train`.)
"""

from gpt_experiments.cli.train import main

if __name__ == "__main__":
    main()
