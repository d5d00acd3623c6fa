"""`python scripts/scaling.py`: runs gpt_experiments/cli/scaling.py

(also installed as `gpt-scaling`.)
"""

from gpt_experiments.cli.scaling import main

if __name__ == "__main__":
    main()
