"""check-stale: mark agents offline that missed their heartbeats, and tell someone."""

from __future__ import annotations

from lib.db import DatabaseError
from lib.db.queries.agents import list_stale_agents, mark_stale_agents_offline
from lib.db.queries.alerts import queue_alert_event
from lib.jobs.base import Job, JobContext, JobResult

MAX_LIMIT = 100_000
# Agents listed in the stats and the alert; the count is always the full one.
SAMPLE_SIZE = 100


async def check_stale(ctx: JobContext) -> JobResult:
    stale_after = ctx.settings.stale_after_seconds
    # Both functions answer one row (a count and a capped sample), never one
    # row per agent: Supabase's API would cut that at 1000 rows.
    if ctx.dry_run:
        stale = await list_stale_agents(ctx.db, stale_after_seconds=stale_after, limit=ctx.limit, sample=SAMPLE_SIZE)
        return JobResult(
            stats={"would_mark_offline": stale.count, "agents": [agent["id"] for agent in stale.agents]},
            has_more=_hit_limit(stale.count, ctx.limit),
        )

    marked = await mark_stale_agents_offline(
        ctx.db, stale_after_seconds=stale_after, limit=ctx.limit, sample=SAMPLE_SIZE
    )
    count, sample = marked.count, marked.agents
    stats: dict[str, object] = {"marked_offline": count}
    if count:
        # Queued for every alert channel; the runner delivers it as soon as the
        # run is recorded, and the schedule tick retries it until it arrives.
        try:
            queued = await queue_alert_event(
                ctx.db,
                event="agents.offline",
                payload={"count": count, "agents": sample, "truncated": count > len(sample)},
            )
            stats["alert_id"] = queued.alert_id
        except DatabaseError as error:
            # The agents are offline either way; a failed alert is reported, not fatal.
            stats["alert_error"] = f"could not queue agents.offline: {type(error).__name__}"
    return JobResult(stats=stats, has_more=_hit_limit(count, ctx.limit))


def _hit_limit(count: int, limit: int | None) -> bool:
    return limit is not None and count >= limit


JOB = Job(
    name="check-stale",
    run=check_stale,
    summary="mark agents offline that missed their heartbeats",
    max_limit=MAX_LIMIT,
)
