"""`python scripts/repro_seeds.py`: runs benchmarks/repro_seeds.py

(benchmarks are not installed with the package.)
"""

import sys
from pathlib import Path

# benchmarks/ sits beside the package at the top of the repository, outside the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.repro_seeds import main  # noqa: E402

if __name__ == "__main__":
    main()
