"""check-stale: mark agents offline that missed their heartbeats, and tell someone.

The marking is batched the way retention's deletes are (lib/jobs/batches.py):
one statement marks at most BATCH_SIZE agents, oldest first, and a batch that
took over a second makes the next one smaller. 100,000 stale agents take about
a second in one statement, but a fleet that all went silent at once (a network
outage at 1 M agents) would not fit Supabase's 8 s statement timeout in one.
"""

from __future__ import annotations

from typing import Any

from lib.db import DatabaseError
from lib.db.queries.agents import list_stale_agents, mark_stale_agents_offline
from lib.db.queries.alerts import queue_alert_event
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.batches import delete_in_batches

MAX_LIMIT = 100_000
# Agents listed in the stats and the alert; the count is always the full one.
SAMPLE_SIZE = 100
# The most agents one statement marks: 100,000 stale agents (a tenth of a
# fleet of a million) take one statement of about a second, as the raw UPDATE
# does, while a whole fleet gone silent is split. Time-sizing shrinks the next
# batch when one took over a second. (Every batch after the first also steps
# over the index entries the batches before it left dead, so smaller batches
# cost more in all.)
BATCH_SIZE = 200_000


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

    sample: list[dict[str, Any]] = []

    async def mark(size: int) -> dict[str, int]:
        marked = await mark_stale_agents_offline(
            ctx.db, stale_after_seconds=stale_after, limit=size, sample=SAMPLE_SIZE
        )
        # Each batch takes the oldest left, so the first batches' samples are the oldest overall.
        sample.extend(marked.agents[: SAMPLE_SIZE - len(sample)])
        return {"marked": marked.count}

    batches = await delete_in_batches(ctx, min(BATCH_SIZE, ctx.limit or BATCH_SIZE), mark)
    count = batches.counts.get("marked", 0)
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
    return JobResult(stats=stats, has_more=batches.has_more)


def _hit_limit(count: int, limit: int | None) -> bool:
    return limit is not None and count >= limit


JOB = Job(
    name="check-stale",
    run=check_stale,
    summary="mark agents offline that missed their heartbeats",
    max_limit=MAX_LIMIT,
)
