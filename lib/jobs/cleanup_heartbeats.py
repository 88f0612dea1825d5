"""cleanup-heartbeats: drop the heartbeat partitions past retention, then delete the rest in batches.

Heartbeats are partitioned by day (DESIGN.md Scale). Each run first calls the
partition upkeep: whole days past retention are dropped (a catalog change, no
dead rows for vacuum), about a gigabyte of them per call and so per
transaction, and partitions are made ahead for the days to come.
What is left past the cutoff (the day that straddles it, and rows that landed
in the default partition) is deleted in batches sized by time and bounded by
the run's budget (lib/jobs/batches.py, shared with prune-history).
"""

from __future__ import annotations

from lib.db.queries.heartbeats import (
    PartitionUpkeep,
    count_expired_heartbeats,
    delete_expired_heartbeats,
    maintain_heartbeat_partitions,
)
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.batches import delete_in_batches

MAX_LIMIT = 10_000_000
# Partitions made ahead of today. The job runs daily (vercel.json); a week
# ahead leaves room for missed runs before beats would land in the default.
DAYS_AHEAD = 7
# How much one upkeep call may drop (and so free while heartbeats wait); None
# is the function's own bound, a gigabyte (repeatable/heartbeat_partitions.sql).
DROP_MEGABYTES: int | None = None


async def cleanup_heartbeats(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    retention = settings.heartbeat_retention_days
    cap = settings.cleanup_batch_size
    if ctx.limit is not None:
        cap = min(cap, ctx.limit)

    if ctx.dry_run:
        most = ctx.limit or MAX_LIMIT
        expired = await count_expired_heartbeats(ctx.db, retention_days=retention, cap=most + 1)
        return JobResult(stats={"would_delete": min(expired, most)}, has_more=expired > most)

    # `limit` caps the rows deleted one by one; dropping a whole day is one
    # catalog change, cheaper than any batch, so it is never held back.
    drops = await drop_expired_partitions(ctx, retention)
    stats: dict[str, object] = {
        "deleted": 0,
        "batches": 0,
        "partitions_dropped": drops.dropped,
        "partitions_created": drops.created,
    }
    if drops.dropped:
        stats["dropped_rows_estimate"] = drops.dropped_rows_estimate
    if drops.busy:
        stats["partitions_busy"] = True
    if drops.left_to_drop:
        # The budget ended among whole days: their rows are not batch-deleted, the next run drops them.
        return JobResult(stats=stats, has_more=True)

    async def delete(size: int) -> dict[str, int]:
        return {"deleted": await delete_expired_heartbeats(ctx.db, retention_days=retention, batch_size=size)}

    deleted = await delete_in_batches(ctx, cap, delete)
    stats["deleted"] = deleted.counts.get("deleted", 0)
    stats["batches"] = deleted.batches
    return JobResult(stats=stats, has_more=deleted.has_more)


async def drop_expired_partitions(ctx: JobContext, retention: int) -> PartitionUpkeep:
    """Call the upkeep until no whole day is past retention, the table is busy, or the budget ends.

    Each call drops at most about a gigabyte of days in one transaction, so a
    heartbeat waits for that much to be freed, never for a whole backlog. The
    first call runs whatever the budget says: it also makes the partitions ahead.
    """
    total = await _upkeep(ctx, retention)
    while total.left_to_drop and not total.busy and not ctx.deadline.expired():
        upkeep = await _upkeep(ctx, retention)
        total = PartitionUpkeep(
            created=total.created + upkeep.created,
            dropped=total.dropped + upkeep.dropped,
            dropped_rows_estimate=total.dropped_rows_estimate + upkeep.dropped_rows_estimate,
            busy=upkeep.busy,
            left_to_drop=upkeep.left_to_drop,
        )
    return total


async def _upkeep(ctx: JobContext, retention: int) -> PartitionUpkeep:
    return await maintain_heartbeat_partitions(
        ctx.db, retention_days=retention, days_ahead=DAYS_AHEAD, drop_megabytes=DROP_MEGABYTES
    )


JOB = Job(
    name="cleanup-heartbeats",
    run=cleanup_heartbeats,
    summary="drop heartbeat partitions past retention and delete the rest, in batches",
    max_limit=MAX_LIMIT,
)
