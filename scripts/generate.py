"""`python scripts/generate.py`: runs gpt_experiments/cli/generate.py

(also installed as `gpt-generate`.)
"""

from gpt_experiments.cli.generate import main

if __name__ == "__main__":
    main()
