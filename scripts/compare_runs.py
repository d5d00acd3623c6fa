"""`python scripts/compare_runs.py`: runs gpt_experiments/cli/compare.py

(also installed as `gpt-compare`.)
"""

from gpt_experiments.cli.compare import main

if __name__ == "__main__":
    main()
