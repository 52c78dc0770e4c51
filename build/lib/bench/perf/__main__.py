"""Entry point of `python -m bench.perf`."""
import sys

from bench.perf.harness import main

if __name__ == "__main__":
    sys.exit(main())
