"""cleanup-heartbeats: delete heartbeats past retention, one short transaction per batch.

Batches are sized by time and bounded by the run's budget (lib/jobs/batches.py,
shared with prune-history).
"""

from __future__ import annotations

from lib.db.queries.heartbeats import count_expired_heartbeats, delete_expired_heartbeats
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.batches import delete_in_batches

MAX_LIMIT = 10_000_000


async def cleanup_heartbeats(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    cap = settings.cleanup_batch_size
    if ctx.limit is not None:
        cap = min(cap, ctx.limit)

    if ctx.dry_run:
        most = ctx.limit or MAX_LIMIT
        expired = await count_expired_heartbeats(ctx.db, retention_days=settings.heartbeat_retention_days, cap=most + 1)
        return JobResult(stats={"would_delete": min(expired, most)}, has_more=expired > most)

    async def delete(size: int) -> dict[str, int]:
        count = await delete_expired_heartbeats(
            ctx.db, retention_days=settings.heartbeat_retention_days, batch_size=size
        )
        return {"deleted": count}

    deleted = await delete_in_batches(ctx, cap, delete)
    return JobResult(
        stats={"deleted": deleted.counts.get("deleted", 0), "batches": deleted.batches}, has_more=deleted.has_more
    )


JOB = Job(
    name="cleanup-heartbeats",
    run=cleanup_heartbeats,
    summary="delete heartbeat rows past retention, in batches",
    max_limit=MAX_LIMIT,
)
