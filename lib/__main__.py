"""`python -m lib <command>`: the command line lives in lib/cli/."""

from __future__ import annotations

import sys

from lib.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
