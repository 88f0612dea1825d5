"""check-stale: mark agents offline that missed their heartbeats, and tell someone."""

from __future__ import annotations

from lib.jobs.base import Job, JobContext, JobResult
from lib.notifiers.alert import send_agents_offline

MAX_LIMIT = 100_000


async def check_stale(ctx: JobContext) -> JobResult:
    stale_after = ctx.settings.stale_after_seconds
    if ctx.dry_run:
        rows = await ctx.db.call("list_stale_agents", p_stale_after_seconds=stale_after, p_limit=ctx.limit)
        return JobResult(
            stats={"would_mark_offline": len(rows), "agents": [row["id"] for row in rows[:100]]},
            has_more=_hit_limit(len(rows), ctx.limit),
        )

    rows = await ctx.db.call("mark_stale_agents_offline", p_stale_after_seconds=stale_after, p_limit=ctx.limit)
    stats: dict[str, object] = {"marked_offline": len(rows)}
    url = ctx.settings.alert_webhook_url
    if rows and url:
        problem = await send_agents_offline(url, rows, ctx.deadline)
        # The agents are offline either way; a failed alert is reported, not fatal.
        stats["alert"] = "failed" if problem else "sent"
        if problem:
            stats["alert_error"] = problem
    return JobResult(stats=stats, has_more=_hit_limit(len(rows), ctx.limit))


def _hit_limit(count: int, limit: int | None) -> bool:
    return limit is not None and count >= limit


JOB = Job(
    name="check-stale",
    run=check_stale,
    summary="mark agents offline that missed their heartbeats",
    max_limit=MAX_LIMIT,
)
