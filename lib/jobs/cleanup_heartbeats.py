"""cleanup-heartbeats: delete heartbeats past retention, one short transaction per batch.

Batches are sized by time, not only by count. Through PostgREST every
statement runs under Supabase's 8 s statement_timeout, and a batch that hits it
(57014) deletes nothing, so a fixed large batch on a slow database would fail
the same way on every run. Each call aims at about a second: the next batch is
scaled from the last one's duration, at most doubled, never above
CLEANUP_BATCH_SIZE; a batch that timed out is retried at a quarter of its size.
"""

from __future__ import annotations

import time

from lib.db import DatabaseError
from lib.db.queries.heartbeats import count_expired_heartbeats, delete_expired_heartbeats
from lib.jobs.base import Job, JobContext, JobResult

MAX_LIMIT = 10_000_000
TARGET_SECONDS = 1.0
QUERY_CANCELED = "57014"


def next_batch_size(size: int, elapsed: float, cap: int) -> int:
    """The batch that should take about TARGET_SECONDS, given `size` took `elapsed`."""
    scaled = int(size * TARGET_SECONDS / max(elapsed, 1e-3))
    return max(1, min(cap, 2 * size, scaled))


async def cleanup_heartbeats(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    cap = settings.cleanup_batch_size
    if ctx.limit is not None:
        cap = min(cap, ctx.limit)

    if ctx.dry_run:
        most = ctx.limit or MAX_LIMIT
        expired = await count_expired_heartbeats(ctx.db, retention_days=settings.heartbeat_retention_days, cap=most + 1)
        return JobResult(stats={"would_delete": min(expired, most)}, has_more=expired > most)

    deleted = batches = 0
    batch_size = cap
    has_more = True
    # The first batch runs whatever the budget says, so every run makes
    # progress: a budget spent before the job starts must not stall the backlog.
    while batches == 0 or not ctx.deadline.expired():
        size = batch_size if ctx.limit is None else min(batch_size, ctx.limit - deleted)
        if size <= 0:
            break
        started = time.monotonic()
        try:
            count = await delete_expired_heartbeats(
                ctx.db, retention_days=settings.heartbeat_retention_days, batch_size=size
            )
        except DatabaseError as error:
            if error.code != QUERY_CANCELED or size == 1:
                raise
            # The batch was rolled back whole; a smaller one fits the timeout.
            batch_size = max(1, size // 4)
            continue
        deleted += count
        batches += 1
        if count < size:
            # A short batch means nothing expired is left (rows other runs hold
            # locked right now are theirs to delete).
            has_more = False
            break
        batch_size = next_batch_size(size, time.monotonic() - started, cap)
    return JobResult(stats={"deleted": deleted, "batches": batches}, has_more=has_more)


JOB = Job(
    name="cleanup-heartbeats",
    run=cleanup_heartbeats,
    summary="delete heartbeat rows past retention, in batches",
    max_limit=MAX_LIMIT,
)
