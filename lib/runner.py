"""Run one job under the ledger: lease, deadline, error capture, log line."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from lib.db import Database, DatabaseError
from lib.db.queries.runs import EmptyRunStart, RunStart, begin_run, begin_run_if_due, end_run
from lib.db.statuses import RunStatus, Trigger
from lib.deadline import Deadline, deadline_scope
from lib.jobs.base import Job, JobContext
from lib.ledger import RunReport, log_run, new_run_key
from lib.settings import Settings

log = logging.getLogger("cronrelay.runner")

# Jobs stop themselves at the deadline; this is the backstop for one that does
# not (a hung call). It must stay below maxDuration minus the budget (10 s), so
# the run is still recorded before the platform kills the function.
OVERRUN_GRACE_SECONDS = 5.0


def new_request_id() -> str:
    return uuid.uuid4().hex


async def run_job(
    job: Job,
    *,
    db: Database,
    settings: Settings,
    trigger: Trigger,
    request_id: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    payload: dict[str, Any] | None = None,
    deadline: Deadline | None = None,
    jobs: Mapping[str, Job] | None = None,
) -> RunReport:
    """Run `job` once. Database failures before the run starts propagate (there is no run to report)."""
    request_id = request_id or new_request_id()
    clock = time.monotonic()
    start: RunStart
    if job.empty_stats is not None and not dry_run:
        # The empty tick is one round trip: the lease, the check that nothing
        # is due, and the ledger row, in one call; the work path is unchanged.
        empty = await begin_run_if_due(
            db,
            job=job.name,
            trigger=trigger,
            lease_seconds=settings.lease_seconds,
            request_id=request_id,
            run_key=new_run_key(),
            empty_stats=dict(job.empty_stats),
            blocked=dict(job.blocked(settings, jobs or {})) if job.blocked else {},
        )
        if empty.finished:
            return await _finished_empty(job, empty, db, settings, trigger, request_id, clock)
        start = empty
    else:
        start = await begin_run(
            db,
            job=job.name,
            trigger=trigger,
            lease_seconds=settings.lease_seconds,
            request_id=request_id,
            dry_run=dry_run,
            run_key=new_run_key(),
        )
    report = RunReport(
        job=job.name,
        run_id=start.run_id,
        status=RunStatus.SKIPPED,
        trigger=trigger,
        request_id=request_id,
        started_at=start.started_at,
        dry_run=dry_run,
        stats={"reason": "paused"} if start.paused else {"held_by_run": start.held_by},
    )
    if not start.acquired:
        log_run(report)
        return report

    own_deadline = Deadline.after(settings.run_time_budget_seconds)
    context = JobContext(
        db=db,
        settings=settings,
        # A nested run (from the drain) must end within its parent's budget too.
        deadline=min(own_deadline, deadline, key=lambda d: d.expires_at) if deadline else own_deadline,
        run_id=start.run_id,
        trigger=trigger,
        request_id=request_id,
        dry_run=dry_run,
        limit=limit,
        payload=payload or {},
        jobs=jobs or {},
        held=start.held if isinstance(start, EmptyRunStart) else {},
    )
    try:
        async with asyncio.timeout(context.deadline.remaining() + OVERRUN_GRACE_SECONDS):
            # The adapters read this scope, so their retries never outlive the run.
            with deadline_scope(context.deadline):
                result = await job.run(context)
        report.stats = result.stats
        report.has_more = result.has_more
        report.status = RunStatus.PARTIAL if result.has_more or result.failures else RunStatus.OK
    except TimeoutError:
        log.error("job %s (run %s) overran its budget and was stopped", job.name, start.run_id)
        report.status = RunStatus.ERROR
        report.stats = {}
        report.error = (
            f"stopped after overrunning its time budget of {settings.run_time_budget_seconds:g} s; "
            "work it had claimed returns when its lease expires"
        )
    except Exception as error:  # the run fails as a whole; the log gets the traceback
        log.exception("job %s (run %s) failed", job.name, start.run_id)
        report.status = RunStatus.ERROR
        report.stats = {}
        report.error = one_line(error)

    try:
        duration = await end_run(
            db,
            run_id=start.run_id,
            status=report.status,
            stats=report.stats,
            error=report.error,
            has_more=report.has_more,
        )
    except DatabaseError as error:
        # The work may be done but cannot be recorded; the lease will expire and
        # the ledger will show the run as abandoned.
        log.exception("job %s (run %s): closing the run failed", job.name, start.run_id)
        report.status = RunStatus.ERROR
        report.error = f"could not record the run's outcome: {one_line(error)}"
        duration = None
    report.duration_ms = duration if duration is not None else int((time.monotonic() - clock) * 1000)
    if duration is not None and not dry_run:
        await _deliver_alerts(db, settings, report, context.deadline)
    log_run(report)
    return report


async def _finished_empty(
    job: Job, start: EmptyRunStart, db: Database, settings: Settings, trigger: Trigger, request_id: str, clock: float
) -> RunReport:
    """The report of a run that begin_run_if_due found empty and closed."""
    report = RunReport(
        job=job.name,
        run_id=start.run_id,
        status=RunStatus.OK,
        trigger=trigger,
        request_id=request_id,
        started_at=start.started_at,
        stats=dict(job.empty_stats or {}) | held_stats(start.held),
        duration_ms=start.duration_ms if start.duration_ms is not None else int((time.monotonic() - clock) * 1000),
    )
    # The run may have closed an episode of its own job (job.recovered): delivered
    # and counted as after any run.
    await _deliver_alerts(db, settings, report, Deadline.after(settings.run_time_budget_seconds))
    log_run(report)
    return report


def held_stats(held: Mapping[str, int]) -> dict[str, Any]:
    """A run's stats on requests held for a missing setting: how many, and the reasons (naming the setting)."""
    if not held:
        return {}
    return {"held": sum(held.values()), "held_for": sorted(held)}


async def _deliver_alerts(db: Database, settings: Settings, report: RunReport, deadline: Deadline) -> None:
    """end_run opened or closed the job's alert episode in SQL; deliver what it queued now, and count it
    in the run's answer and ledger row (`stats.alerts`). Never raises: a failing alert does not fail the run."""
    # Imported here, as the app imports the registry: the module brings
    # croniter and httpx, which /api/health's cold start never needs.
    from lib.alerts.channels import configured
    from lib.db.queries.alerts import record_run_alerts
    from lib.jobs import alerting

    own = report.stats.get("alerts")
    if not configured(settings) or (isinstance(own, dict) and "pending" in own):
        # Nobody to tell (the tick routes the events), or the job delivered as it
        # ran (the schedule tick, check-stale): what is left is the next tick's.
        return
    delivered = await alerting.after_run(db, settings, deadline)
    if delivered is None or report.run_id is None:
        return
    counts = delivered.as_stats()
    report.stats = {**report.stats, "alerts": counts}
    try:
        await record_run_alerts(db, run_id=report.run_id, alerts=counts)
    except DatabaseError as error:
        log.error("job %s (run %s): recording stats.alerts failed: %s", report.job, report.run_id, one_line(error))


def one_line(error: BaseException) -> str:
    if isinstance(error, DatabaseError):
        text = str(error) if str(error).startswith("database") else f"database error: {error}"
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return " ".join(text.split())[:500]
