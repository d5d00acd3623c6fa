"""`python scripts/evaluate.py`: runs gpt_experiments/cli/evaluate.py

(also installed as `gpt-evaluate`.)
"""

from gpt_experiments.cli.evaluate import main

if __name__ == "__main__":
    main()
