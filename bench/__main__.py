"""`python3 dev.py bench [name ...]`: run the benchmarks under bench/ (all by default).

Each module's `main()` prints its detail and returns its figures; they go to
bench/results.md (and bench/results.json, which keeps the rows of benchmarks
not run this time).
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from typing import Any

from bench.harness import HERE, Figure, machine, save

# In the order of the table; every module here is part of `dev.py bench`.
BENCHMARKS = [
    "cold_start",
    "check_stale",
    "cleanup",
    "prune_history",
    "reminders",
    "run_requests",
    "empty_run",
    "console",
    "operators",
    "workers",
    "on_time",
    "alerts",
    "scale",
]


def available() -> list[str]:
    """The benchmarks whose module exists (prune_history and console arrive with their features)."""
    return [name for name in BENCHMARKS if (HERE / f"{name}.py").exists()]


def main(names: list[str]) -> int:
    present = available()
    chosen = names or present
    for name in chosen:
        if name not in present:
            print(f"unknown benchmark {name!r}; available: {', '.join(present)}", file=sys.stderr)
            return 2
    missing = [name for name in BENCHMARKS if name not in present]
    if missing and not names:
        print(f"not yet present, skipped: {', '.join(missing)}", flush=True)
    runs: dict[str, tuple[dict[str, Any], list[Figure]]] = {}
    for name in chosen:
        print(f"== bench/{name}.py", flush=True)
        started = time.perf_counter()
        where = machine()
        figures = importlib.import_module(f"bench.{name}").main() or []
        where = {**where, "postgres": machine()["postgres"]}
        for figure in figures:
            figure.bench = name
            met = "met" if figure.met else "NOT MET"
            print(f"   -> {figure.name}: {figure.ratio:.2f} (target {figure.target}) {met}", flush=True)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
        runs[name] = (where, list(figures))
        # Saved after each benchmark, so an interrupted run keeps what it measured.
        save(BENCHMARKS, {name: runs[name]})
    print("wrote bench/results.md", flush=True)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds through the benchmarks' `finally`s and context managers, so a stopped run
    # still stops its embedded Postgres and unmounts bench/filesystems.py's loop device.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main(sys.argv[1:]))
