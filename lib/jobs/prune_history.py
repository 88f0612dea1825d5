"""prune-history: delete ledger rows, finished run requests and delivered alerts past RUN_HISTORY_DAYS.

A ledger that grows for ever is the most common complaint about pg_cron's
job_run_details. Each batch deletes at most a batch of ledger rows and a batch
of `done`/`error` requests in one short transaction; batches are sized by
time within the run's budget, as cleanup-heartbeats' are (lib/jobs/batches.py).
Queued and running requests, and running ledger rows, are never touched.
"""

from __future__ import annotations

from lib.db.queries.alerts import prune_alert_history
from lib.db.queries.history import count_prunable_history, prune_history
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.batches import delete_in_batches

MAX_LIMIT = 10_000_000


async def prune(ctx: JobContext) -> JobResult:
    days = ctx.settings.run_history_days
    cap = ctx.settings.cleanup_batch_size
    if ctx.limit is not None:
        cap = min(cap, ctx.limit)

    if ctx.dry_run:
        most = ctx.limit or MAX_LIMIT
        found = await count_prunable_history(ctx.db, retention_days=days, cap=most + 1)
        return JobResult(
            stats={"would_delete_runs": min(found.runs, most), "would_delete_requests": min(found.requests, most)},
            has_more=max(found.runs, found.requests) > most,
        )

    async def delete(size: int) -> dict[str, int]:
        pruned = await prune_history(ctx.db, retention_days=days, batch_size=size)
        # Alerts whose deliveries are all sent or dead go with the rest of the history (their own call).
        alerts = await prune_alert_history(ctx.db, retention_days=days, batch_size=size)
        return {"runs": pruned.runs, "requests": pruned.requests, "alerts": alerts}

    deleted = await delete_in_batches(ctx, cap, delete)
    return JobResult(
        stats={
            "deleted_runs": deleted.counts.get("runs", 0),
            "deleted_requests": deleted.counts.get("requests", 0),
            "deleted_alerts": deleted.counts.get("alerts", 0),
            "batches": deleted.batches,
        },
        has_more=deleted.has_more,
    )


JOB = Job(
    name="prune-history",
    run=prune,
    summary="delete ledger rows and finished run requests past RUN_HISTORY_DAYS, in batches",
    max_limit=MAX_LIMIT,
)
