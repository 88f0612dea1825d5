"""`python3 dev.py bench [name ...]`: run the benchmarks under bench/ (all by default)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"__init__", "__main__", "harness"}


def main(names: list[str]) -> int:
    available = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SKIP)
    chosen = names or available
    for name in chosen:
        if name not in available:
            print(f"unknown benchmark {name!r}; available: {', '.join(available)}", file=sys.stderr)
            return 2
    for name in chosen:
        print(f"== bench/{name}.py", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
