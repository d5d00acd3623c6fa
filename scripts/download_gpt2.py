"""`python scripts/download_gpt2.py`: runs gpt_experiments/cli/download.py

(also installed as `gpt-download`.)
"""

from gpt_experiments.cli.download import main

if __name__ == "__main__":
    main()
