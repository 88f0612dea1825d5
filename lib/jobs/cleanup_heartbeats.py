"""cleanup-heartbeats: delete heartbeats past retention, one short transaction per batch."""

from __future__ import annotations

from lib.jobs.base import Job, JobContext, JobResult

MAX_LIMIT = 10_000_000


async def cleanup_heartbeats(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    batch_size = settings.cleanup_batch_size
    if ctx.limit is not None:
        batch_size = min(batch_size, ctx.limit)

    if ctx.dry_run:
        cap = ctx.limit or MAX_LIMIT
        rows = await ctx.db.call(
            "count_expired_heartbeats", p_retention_days=settings.heartbeat_retention_days, p_cap=cap + 1
        )
        expired = int(rows[0]["expired"])
        return JobResult(stats={"would_delete": min(expired, cap)}, has_more=expired > cap)

    deleted = batches = 0
    has_more = True
    while not ctx.deadline.expired():
        size = batch_size if ctx.limit is None else min(batch_size, ctx.limit - deleted)
        if size <= 0:
            break
        rows = await ctx.db.call(
            "delete_expired_heartbeats", p_retention_days=settings.heartbeat_retention_days, p_batch_size=size
        )
        count = int(rows[0]["deleted"])
        deleted += count
        batches += 1
        if count < size:
            # A short batch means nothing expired is left (rows other runs hold
            # locked right now are theirs to delete).
            has_more = False
            break
    return JobResult(stats={"deleted": deleted, "batches": batches}, has_more=has_more)


JOB = Job(
    name="cleanup-heartbeats",
    run=cleanup_heartbeats,
    summary="delete heartbeat rows past retention, in batches",
    max_limit=MAX_LIMIT,
)
