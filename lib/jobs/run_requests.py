"""run-requests: drain queued run requests, executing each as its cron_jobs row says.

A batch costs one claim, and its outcomes are settled as they complete, in
groups written alongside the work (lib/jobs/settling.py: at least every 0.5 s, one
call per group), so a fast batch costs about two round trips and a crash
repeats only the requests in flight and those finished in the last half
second. Requests run concurrently, CONCURRENCY at a time, and the drain is
pipelined as the reminders sweep is: the next batch is claimed once every
request claimed so far has started (and one has finished), while the last of
them are still in flight, so there is no claim -> run -> settle barrier per
batch and one slow request does not hold up the ones after it:
- builtin: the job from the registry runs in-process, under its own ledger row
  (trigger run-request, or schedule for requests the schedule job enqueued);
- webhook: one signed POST (lib/outbound/webhooks.py).

Each request ends done, error, or back in the queue with a backoff. A request
this run claimed but could not start in time is released (its attempt given
back), and one whose drain died is reclaimed once its lease expires: nothing is
lost and nothing stays running.

The executor that does this, shared with fires, Run now and Retry, is
lib/jobs/request_executor.py; this module is the job (the drain and its dry
run). The executor's public names are importable from here too (`X as X`
below), as schedule, manage, bench and tests import them.
"""

from __future__ import annotations

from typing import Any

from lib.db.queries.run_requests import QueuedRequest, claim_run_requests, list_due_run_requests
from lib.db.statuses import JobKind
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.request_executor import CLAIM_BY_ID_MAX as CLAIM_BY_ID_MAX
from lib.jobs.request_executor import CONCURRENCY as CONCURRENCY
from lib.jobs.request_executor import COUNTED_AS as COUNTED_AS
from lib.jobs.request_executor import DRAIN, builtin_target, execute_claims
from lib.jobs.request_executor import MIN_WORK_SECONDS as MIN_WORK_SECONDS
from lib.jobs.request_executor import Claim as Claim
from lib.jobs.request_executor import blocked_by_settings as blocked_by_settings
from lib.jobs.request_executor import execute as execute
from lib.jobs.request_executor import execute_requests as execute_requests
from lib.jobs.request_executor import preflight as preflight
from lib.jobs.request_executor import run_at_once as run_at_once
from lib.jobs.request_executor import webhook_body as webhook_body
from lib.runner import held_stats

NAME = DRAIN
# The largest `limit` a caller may ask for.
MAX_LIMIT = 10_000
DRY_RUN_MAX = 1000
DRY_RUN_SHOWN = 100


# -- the job ------------------------------------------------------------------

EMPTY_STATS = {"claimed": 0, "done": 0, "error": 0, "retried": 0, "released": 0, "recovered": 0, "batches": 0}


async def drain(ctx: JobContext) -> JobResult:
    if ctx.dry_run:
        return await _dry_run(ctx)

    # begin_run_if_due has held what this deployment cannot run (ctx.held).
    blocked = blocked_by_settings(ctx.settings, ctx.jobs)

    async def from_queue(size: int) -> tuple[list[QueuedRequest], bool]:
        rows = await claim_run_requests(
            ctx.db, batch_size=size, lease_seconds=ctx.settings.lease_seconds, blocked=blocked
        )
        # A short batch: nothing else is due (rows other drains hold are theirs).
        return rows, len(rows) == size

    stats, drained = await execute_claims(ctx, from_queue)
    # The run names the setting: these wait for the deployment, not for a retry.
    stats |= held_stats(ctx.held)
    return JobResult(
        stats=stats,
        has_more=not drained or stats["released"] > 0,
        failures=stats["error"] + stats["retried"],
    )


async def _dry_run(ctx: JobContext) -> JobResult:
    """What the next real run would claim, without claiming it (and what of it would fail at once)."""
    cap = min(ctx.limit or DRY_RUN_MAX, DRY_RUN_MAX)
    rows = await list_due_run_requests(ctx.db, limit=cap + 1)
    due = rows[:cap]
    listed = []
    would_fail = would_hold = 0
    blocked = blocked_by_settings(ctx.settings, ctx.jobs)
    for index, row in enumerate(due):
        # A missing setting holds a request (it is not claimed); it does not fail it.
        key = f"builtin:{builtin_target(row)}" if row.job_kind == JobKind.BUILTIN else str(row.job_kind)
        held = blocked.get(key)
        problem = None if held else preflight(row, ctx.settings, ctx.jobs)
        would_fail += problem is not None
        would_hold += held is not None
        if index < DRY_RUN_SHOWN:
            entry = {"id": row.id, "job": row.job_name, "kind": row.job_kind, "attempt": row.attempts + 1}
            if row.recovered:
                entry["recovered"] = True
            if problem:
                entry["would_fail"] = problem
            if held:
                entry["would_hold"] = held
            listed.append(entry)
    stats: dict[str, Any] = {"would_run": len(due) - would_hold, "would_fail": would_fail, "requests": listed}
    if would_hold:
        stats["would_hold"] = would_hold
    return JobResult(stats=stats, has_more=len(rows) > cap)


JOB = Job(
    name=NAME,
    run=drain,
    summary="drain queued run requests: execute each, record the result",
    max_limit=MAX_LIMIT,
    empty_stats=EMPTY_STATS,
    blocked=blocked_by_settings,
)
