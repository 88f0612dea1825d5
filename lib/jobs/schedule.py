"""schedule: enqueue run requests for database-defined schedules that are due, and run them at once.

Per batch, two round trips: claim due `cron_jobs` rows (SQL), compute each
one's next fire time (lib.clock.schedules, in Python), then insert the run requests
and advance `next_run_at` in one token-guarded statement (SQL).

A fire runs at once: the requests this run has just inserted are executed in
the same invocation through the drain's own executor
(lib/jobs/run_requests.execute_requests: the same claims, leases, settles and
concurrency), so a due job starts within seconds of the tick instead of a tick
later. What the budget does not reach stays queued for the drain.

Bounded: a run claims only the ticks due at its start (its first claim's
database time), so it fires each job at most once, and a tick whose job's
previous scheduled request has not finished is coalesced (stats.coalesced:
nothing inserted), so no schedule can grow the queue without bound.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lib.clock.schedules import ScheduleError, first_fire, next_fire, parse_schedule
from lib.db.queries._parse import Unreadable
from lib.db.queries.schedules import (
    Advanced,
    DueSchedule,
    SchedulePlan,
    advance_schedules,
    claim_due_schedules,
    list_due_schedules,
)
from lib.jobs import alerting
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.run_requests import execute_requests

# Rows claimed per round trip: one batch costs a few ms of croniter work per
# hundred rows, so this keeps each claim short without many round trips.
BATCH_SIZE = 200
MAX_LIMIT = 100_000
# A dry run reads at most this many due rows when no `limit` is given.
DRY_RUN_CAP = 10_000
# Invalid rows listed in stats, so a run's answer names them without growing unbounded.
MAX_REPORTED_ERRORS = 20


async def schedule(ctx: JobContext) -> JobResult:
    if ctx.dry_run:
        return await _dry_run(ctx)

    stats: dict[str, Any] = {
        "jobs": 0,
        "enqueued": 0,
        "duplicates": 0,
        "initialized": 0,
        "completed_once": 0,
        # Ticks due while their job was paused, dropped at the resume.
        "skipped_paused": 0,
        "invalid": 0,
        "lost": 0,
        # Ticks due while the job's previous scheduled request was unfinished: nothing inserted.
        "coalesced": 0,
        "batches": 0,
    }
    errors: list[dict[str, str]] = []
    fired: list[str] = []
    has_more = True
    # The run's start on the database's clock: later claims take only what was due by then.
    started: datetime | None = None
    while not ctx.deadline.expired():
        size = BATCH_SIZE if ctx.limit is None else min(BATCH_SIZE, ctx.limit - stats["jobs"])
        if size <= 0:
            break
        rows = await claim_due_schedules(
            ctx.db, limit=size, lease_seconds=ctx.settings.lease_seconds, due_before=started
        )
        if rows:
            started = started or rows[0].db_now
            plans = [plan_row(row) for row in rows]
            outcomes = await advance_schedules(ctx.db, plans=plans)
            _tally(stats, errors, rows, plans, outcomes)
            fired.extend(outcome.request_id for outcome in outcomes if outcome.enqueued and outcome.request_id)
        stats["jobs"] += len(rows)
        stats["batches"] += 1
        if len(rows) < size:
            # A short batch: nothing else is due (rows other runs hold are theirs).
            has_more = False
            break
    if errors:
        stats["errors"] = errors
    if fired:
        # A fire runs at once, through the drain's executor, in this run's budget.
        stats["executed"] = await execute_requests(ctx, fired)
    # The dead man's switch rides on this every-minute tick (lib/jobs/alerting.py); it never raises.
    stats["alerts"] = await alerting.tick(ctx.db, ctx.settings, ctx.deadline)
    return JobResult(stats=stats, has_more=has_more, failures=stats["invalid"])


def plan_row(row: DueSchedule) -> SchedulePlan:
    """What to do with one claimed row.

    "Now" is the database's clock at the claim, so "due" and "after now" mean
    the same thing here as in SQL.
    """
    now = row.db_now
    try:
        created = _readable(row.created_at)
        schedule = parse_schedule(row.schedule_type, row.schedule, row.timezone, created)
        listed = _readable(row.next_run_at)
        # Never scheduled: the first fire is the next tick, not right now.
        scheduled = first_fire(schedule, now) if listed is None else listed
        resumed = row.resumed_at
        if resumed is not None and schedule.kind != "once" and scheduled < (resumed_at := _ready(resumed)):
            # Due while the job was paused: a resumed job carries on at its
            # first tick after the resume, it does not catch up on the ones it missed.
            scheduled = next_fire(schedule, scheduled, resumed_at) or scheduled
            if scheduled > now:
                return _plan(row, scheduled_at=None, next_run_at=scheduled, skipped=True)
        if scheduled > now:
            return _plan(row, scheduled_at=None, next_run_at=scheduled)
        following = next_fire(schedule, scheduled, now)
    except ScheduleError as error:
        # Recorded with the reason and not claimed again until the schedule is
        # changed: a row that can never be scheduled must not be retried every
        # minute, and the rest of the batch goes on. enabled is not touched.
        return _invalid(row, str(error))
    except Exception as error:  # a value no check foresaw must not stall every other row behind it
        return _invalid(row, f"could not compute the next fire time: {type(error).__name__}: {error}")
    # A fired `once` keeps next_run_at at the instant it fired, for the record,
    # and is marked fired, so it never fires again while its request still runs.
    return _plan(row, scheduled_at=scheduled, next_run_at=following or scheduled, fired=following is None)


def _readable(value: datetime | Unreadable | None) -> datetime | None:
    return None if value is None else _ready(value)


def _ready(value: datetime | Unreadable) -> datetime:
    if isinstance(value, Unreadable):
        raise ScheduleError(str(value))
    return value


def _plan(
    row: DueSchedule,
    *,
    scheduled_at: datetime | None,
    next_run_at: datetime,
    fired: bool = False,
    skipped: bool = False,
) -> SchedulePlan:
    return SchedulePlan(row.id, row.claim_token, scheduled_at, next_run_at, fired=fired, skipped=skipped)


def _invalid(row: DueSchedule, error: str) -> SchedulePlan:
    return SchedulePlan(row.id, row.claim_token, None, None, error=error[:500])


def _tally(
    stats: dict[str, Any],
    errors: list[dict[str, str]],
    rows: list[DueSchedule],
    plans: list[SchedulePlan],
    outcomes: list[Advanced],
) -> None:
    names = {row.id: row.name for row in rows}
    by_id = {outcome.job_id: outcome for outcome in outcomes}
    for plan in plans:
        outcome = by_id.get(plan.id)
        if outcome is None or not outcome.applied:
            # Our claim lapsed and another run took the row over: its call now.
            stats["lost"] += 1
        elif plan.error:
            stats["invalid"] += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"job_id": plan.id, "name": names.get(plan.id, ""), "error": plan.error})
        elif plan.skipped:
            stats["skipped_paused"] += 1
        elif plan.scheduled_at is None:
            stats["initialized"] += 1
        elif outcome.coalesced:
            stats["coalesced"] += 1
        else:
            stats["enqueued" if outcome.enqueued else "duplicates"] += 1
            if plan.fired:
                stats["completed_once"] += 1


async def _dry_run(ctx: JobContext) -> JobResult:
    cap = ctx.limit or DRY_RUN_CAP
    rows = await list_due_schedules(ctx.db, limit=cap)
    plans = [plan_row(row) for row in rows]
    due = [plan for plan in plans if plan.scheduled_at is not None]
    invalid = [plan for plan in plans if plan.error]
    names = {row.id: row.name for row in rows}
    stats: dict[str, Any] = {
        "would_enqueue": len(due),
        "would_initialize": sum(
            1 for plan in plans if plan.scheduled_at is None and not plan.error and not plan.skipped
        ),
        "would_skip_paused": sum(1 for plan in plans if plan.skipped),
        "would_complete_once": sum(1 for plan in due if plan.fired),
        "invalid": len(invalid),
    }
    if invalid:
        stats["errors"] = [
            {"job_id": plan.id, "name": names.get(plan.id, ""), "error": plan.error or ""}
            for plan in invalid[:MAX_REPORTED_ERRORS]
        ]
    return JobResult(stats=stats, has_more=len(rows) >= cap)


JOB = Job(
    name="schedule",
    run=schedule,
    summary="enqueue run requests for database-defined schedules that are due",
    max_limit=MAX_LIMIT,
)
