"""schedule: enqueue run requests for database-defined schedules that are due.

Per batch, two round trips: claim due `cron_jobs` rows (SQL), compute each
one's next fire time (lib.clock.schedules, in Python), then insert the run requests
and advance `next_run_at` in one token-guarded statement (SQL). The requests
are executed later by the run-request drain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lib.clock.schedules import ScheduleError, first_fire, next_fire, parse_instant, parse_schedule
from lib.db import Row
from lib.jobs.base import Job, JobContext, JobResult

# Rows claimed per round trip: one batch costs a few ms of croniter work per
# hundred rows, so this keeps each claim short without many round trips.
BATCH_SIZE = 200
MAX_LIMIT = 100_000
# A dry run reads at most this many due rows when no `limit` is given.
DRY_RUN_CAP = 10_000
# Invalid rows listed in stats, so a run's answer names them without growing unbounded.
MAX_REPORTED_ERRORS = 20

Plan = dict[str, Any]


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
        "batches": 0,
    }
    errors: list[dict[str, str]] = []
    has_more = True
    while not ctx.deadline.expired():
        size = BATCH_SIZE if ctx.limit is None else min(BATCH_SIZE, ctx.limit - stats["jobs"])
        if size <= 0:
            break
        rows = await ctx.db.call("claim_due_schedules", p_limit=size, p_lease_seconds=ctx.settings.lease_seconds)
        if rows:
            plans = [plan_row(row, parse_instant(row["db_now"])) for row in rows]
            outcomes = await ctx.db.call("advance_schedules", p_items=plans)
            _tally(stats, errors, rows, plans, outcomes)
        stats["jobs"] += len(rows)
        stats["batches"] += 1
        if len(rows) < size:
            # A short batch: nothing else is due (rows other runs hold are theirs).
            has_more = False
            break
    if errors:
        stats["errors"] = errors
    return JobResult(stats=stats, has_more=has_more, failures=stats["invalid"])


def plan_row(row: Row, now: datetime) -> Plan:
    """What to do with one claimed row, as an advance_schedules item.

    `now` is the database's clock at the claim, so "due" and "after now" mean
    the same thing here as in SQL.
    """
    item: Plan = {"id": row["id"], "claim_token": row.get("claim_token")}
    try:
        created = parse_instant(row["created_at"], "created_at") if row.get("created_at") else None
        schedule = parse_schedule(row["schedule_type"], row["schedule"], row["timezone"], created)
        if row["next_run_at"] is None:
            # Never scheduled: the first fire is the next tick, not right now.
            scheduled = first_fire(schedule, now)
        else:
            scheduled = parse_instant(row["next_run_at"])
        resumed = row.get("resumed_at")
        if resumed is not None and schedule.kind != "once" and scheduled < (resumed_at := parse_instant(resumed)):
            # Due while the job was paused: a resumed job carries on at its
            # first tick after the resume, it does not catch up on the ones it missed.
            scheduled = next_fire(schedule, scheduled, resumed_at) or scheduled
            if scheduled > now:
                return _plan(item, scheduled_at=None, next_run_at=scheduled, skipped=True)
        if scheduled > now:
            return _plan(item, scheduled_at=None, next_run_at=scheduled)
        following = next_fire(schedule, scheduled, now)
    except ScheduleError as error:
        # Recorded with the reason and not claimed again until the schedule is
        # changed: a row that can never be scheduled must not be retried every
        # minute, and the rest of the batch goes on. enabled is not touched.
        return _invalid(item, str(error))
    except Exception as error:  # a value no check foresaw must not stall every other row behind it
        return _invalid(item, f"could not compute the next fire time: {type(error).__name__}: {error}")
    # A fired `once` keeps next_run_at at the instant it fired, for the record,
    # and is marked fired, so it never fires again while its request still runs.
    return _plan(item, scheduled_at=scheduled, next_run_at=following or scheduled, fired=following is None)


def _plan(
    item: Plan, *, scheduled_at: datetime | None, next_run_at: datetime, fired: bool = False, skipped: bool = False
) -> Plan:
    return {
        **item,
        "scheduled_at": _iso(scheduled_at) if scheduled_at else None,
        "next_run_at": _iso(next_run_at),
        "fired": fired,
        "skipped": skipped,
        "error": None,
    }


def _invalid(item: Plan, error: str) -> Plan:
    return {**item, "scheduled_at": None, "next_run_at": None, "fired": False, "skipped": False, "error": error[:500]}


def _tally(
    stats: dict[str, Any], errors: list[dict[str, str]], rows: list[Row], plans: list[Plan], outcomes: list[Row]
) -> None:
    names = {row["id"]: row["name"] for row in rows}
    by_id = {outcome["job_id"]: outcome for outcome in outcomes}
    for item in plans:
        outcome = by_id.get(item["id"], {})
        if not outcome.get("applied"):
            # Our claim lapsed and another run took the row over: its call now.
            stats["lost"] += 1
        elif item["error"]:
            stats["invalid"] += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"job_id": item["id"], "name": names.get(item["id"], ""), "error": item["error"]})
        elif item["skipped"]:
            stats["skipped_paused"] += 1
        elif item["scheduled_at"] is None:
            stats["initialized"] += 1
        else:
            stats["enqueued" if outcome.get("enqueued") else "duplicates"] += 1
            if item["fired"]:
                stats["completed_once"] += 1


async def _dry_run(ctx: JobContext) -> JobResult:
    cap = ctx.limit or DRY_RUN_CAP
    rows = await ctx.db.call("list_due_schedules", p_limit=cap)
    plans = [plan_row(row, parse_instant(row["db_now"])) for row in rows]
    due = [item for item in plans if item["scheduled_at"] is not None]
    invalid = [item for item in plans if item["error"]]
    names = {row["id"]: row["name"] for row in rows}
    stats: dict[str, Any] = {
        "would_enqueue": len(due),
        "would_initialize": sum(
            1 for item in plans if item["scheduled_at"] is None and not item["error"] and not item["skipped"]
        ),
        "would_skip_paused": sum(1 for item in plans if item["skipped"]),
        "would_complete_once": sum(1 for item in due if item["fired"]),
        "invalid": len(invalid),
    }
    if invalid:
        stats["errors"] = [
            {"job_id": item["id"], "name": names.get(item["id"], ""), "error": item["error"]}
            for item in invalid[:MAX_REPORTED_ERRORS]
        ]
    return JobResult(stats=stats, has_more=len(rows) >= cap)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


JOB = Job(
    name="schedule",
    run=schedule,
    summary="enqueue run requests for database-defined schedules that are due",
    max_limit=MAX_LIMIT,
)
