"""Deleting in batches sized by time, within a run's budget: cleanup-heartbeats and prune-history.

Batches are sized by time, not only by count. Through PostgREST every
statement runs under Supabase's 8 s statement_timeout, and a batch that hits it
(57014) deletes nothing, so a fixed large batch on a slow database would fail
the same way on every run. Each call aims at about a second: the next batch is
scaled from the last one's duration, at most doubled, never above the cap; a
batch that timed out is retried at a quarter of its size.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lib.db import DatabaseError
from lib.jobs.base import JobContext

TARGET_SECONDS = 1.0
QUERY_CANCELED = "57014"

# Deletes at most `size` rows of each kind in one transaction; how many of each it deleted.
BatchDelete = Callable[[int], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Deleted:
    counts: dict[str, int]
    batches: int
    has_more: bool


def next_batch_size(size: int, elapsed: float, cap: int) -> int:
    """The batch that should take about TARGET_SECONDS, given `size` took `elapsed`."""
    scaled = int(size * TARGET_SECONDS / max(elapsed, 1e-3))
    return max(1, min(cap, 2 * size, scaled))


async def delete_in_batches(ctx: JobContext, cap: int, delete: BatchDelete) -> Deleted:
    """Call `delete` until a batch comes back short, `ctx.limit` rows of a kind are gone, or the budget ends.

    `ctx.limit` caps the rows of each kind, and a batch is short when every
    kind in it is.
    """
    totals: dict[str, int] = {}
    batches = 0
    batch_size = cap
    has_more = True
    # The first batch runs whatever the budget says, so every run makes
    # progress: a budget spent before the job starts must not stall the backlog.
    while batches == 0 or not ctx.deadline.expired():
        size = batch_size if ctx.limit is None else min(batch_size, ctx.limit - max(totals.values(), default=0))
        if size <= 0:
            break
        started = time.monotonic()
        try:
            counts = await delete(size)
        except DatabaseError as error:
            if error.code != QUERY_CANCELED or size == 1:
                raise
            # The batch was rolled back whole; a smaller one fits the timeout.
            batch_size = max(1, size // 4)
            continue
        for kind, count in counts.items():
            totals[kind] = totals.get(kind, 0) + count
        batches += 1
        if max(counts.values(), default=0) < size:
            # A short batch means nothing expired is left.
            has_more = False
            break
        batch_size = next_batch_size(size, time.monotonic() - started, cap)
    return Deleted(counts=totals, batches=batches, has_more=has_more)
