"""Quality benchmark: python bench/quality.py --help (the code lives in tracewise.benchmark)."""

import sys

from tracewise.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
