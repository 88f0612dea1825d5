"""job.failed, job.overdue and job.recovered: computing overdue deadlines and sending queued events.

The episodes themselves live in SQL (repeatable/alerts.sql): a run or run
request that ends opens or closes one in its own transaction and queues the
event, so one episode alerts once however many runs, drains and ticks race.
Here:
- `after_run`: the runner sends what is queued right after a run, so a
  failure is reported while it is news;
- `tick`: the `schedule` job computes each scheduled job's overdue deadline
  (fire times need croniter and zoneinfo), lets the database open overdue
  episodes, and sends whatever is queued, including the final errors of
  webhook requests, which the drain settles without a run of its own.
Nothing here raises: a failing alert never fails the run that sent it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from lib.clock.schedules import ScheduleError, next_cron_fire, parse_schedule
from lib.db import Database, DatabaseError
from lib.db.queries._parse import Unreadable
from lib.db.queries.alerts import (
    AlertEvent,
    OverdueDeadline,
    WatchedJob,
    claim_alert_events,
    list_jobs_to_watch,
    sweep_overdue_jobs,
)
from lib.deadline import Deadline
from lib.outbound.alert import send_job_events
from lib.settings import Settings

log = logging.getLogger("cronrelay.alerts")

# A job is overdue when it has not started for two of its intervals plus this.
GRACE = timedelta(minutes=5)
MISSED_INTERVALS = 2
# Deadlines computed per tick; the rest wait for the next tick.
WATCH_BATCH = 500
# Events claimed per call; more wait for the next run or tick.
CLAIM_LIMIT = 100
# The run's budget left that sending right after it needs (the deadline's reserve plus a second).
ALERT_TIME_NEEDED = 2.0
# The most time one run spends sending alerts.
SEND_SECONDS = 10.0
# Problems listed in a run's stats, so its answer stays small.
MAX_REPORTED = 5


def overdue_deadline(job: WatchedJob) -> OverdueDeadline:
    """When `job` is overdue if it starts no run after `job.basis`; None when its schedule is unusable.

    For a cron schedule the "intervals" are its own fire times (the second
    fire after the last start), so a weekday-only job is not overdue on Sunday.
    `vercel` rows use their vercel.json cron, which Vercel reads in UTC.
    """
    return OverdueDeadline(job.id, job.basis_text, _due_by(job))


def _due_by(job: WatchedJob) -> datetime | None:
    if isinstance(job.basis, Unreadable):
        return None
    vercel = job.schedule_type == "vercel"
    try:
        schedule = parse_schedule(
            "cron" if vercel else job.schedule_type, job.schedule, "UTC" if vercel else job.timezone
        )
        if schedule.kind == "interval":
            assert schedule.every is not None
            return job.basis + MISSED_INTERVALS * schedule.every + GRACE
        fire = job.basis
        for _ in range(MISSED_INTERVALS):
            fire = next_cron_fire(schedule, fire)
        return fire + GRACE
    except (ScheduleError, OverflowError, ValueError):
        # An unusable schedule is the schedule job's to report (schedule_error);
        # it cannot be overdue on a schedule it does not have.
        return None


async def tick(db: Database, settings: Settings, deadline: Deadline) -> dict[str, Any]:
    """The schedule tick's part: deadlines, overdue episodes, then send what is queued. Stats for the run."""
    stats: dict[str, Any] = {"overdue": 0, "sent": 0, "failed": 0}
    if deadline.expired(reserve=ALERT_TIME_NEEDED):
        # The next tick sweeps; claiming events now would drop them unsent.
        return {**stats, "deferred": True}
    try:
        watched = await list_jobs_to_watch(db, limit=WATCH_BATCH)
        deadlines = [overdue_deadline(job) for job in watched]
        events = await sweep_overdue_jobs(db, deadlines=deadlines, claim_limit=CLAIM_LIMIT)
    except DatabaseError as error:
        log.error("alerts: the overdue sweep failed: %s", settings.redact(str(error)))
        return {**stats, "errors": [f"overdue sweep failed: {type(error).__name__}"]}
    stats["overdue"] = sum(1 for event in events if event.event == "job.overdue")
    return {**stats, **await _send(settings, events, deadline)}


async def after_run(db: Database, settings: Settings, deadline: Deadline) -> None:
    """Send the events the run just queued (job.failed, job.recovered); the tick sends any left over."""
    if not settings.alert_webhook_url:
        # Nobody to tell: the tick discards queued events, so they do not pile up.
        return
    if deadline.expired(reserve=ALERT_TIME_NEEDED):
        # Claimed events are gone; leave them to the tick rather than claim and drop them.
        return
    try:
        events = await claim_alert_events(db, limit=CLAIM_LIMIT)
    except DatabaseError as error:
        log.error("alerts: claiming queued events failed: %s", settings.redact(str(error)))
        return
    await _send(settings, events, deadline)


async def _send(settings: Settings, events: list[AlertEvent], deadline: Deadline) -> dict[str, Any]:
    if not events:
        return {}
    url = settings.alert_webhook_url
    if not url:
        return {"discarded": len(events)}
    secret = settings.webhook_signing_secret.get_secret_value() if settings.webhook_signing_secret else None
    # However many events and however slow the endpoint, alerts get a few
    # seconds of the run, not the rest of its budget.
    budget = min(deadline, Deadline.after(SEND_SECONDS), key=lambda d: d.expires_at)
    problems = await send_job_events(url, [(event.event, event.payload) for event in events], budget, secret)
    log.info("alerts: %s", ", ".join(f"{event.event} for {event.payload.get('job', '?')}" for event in events))
    outcome: dict[str, Any] = {"sent": len(events) - len(problems), "failed": len(problems)}
    if problems:
        log.error("alerts: %d of %d not delivered: %s", len(problems), len(events), "; ".join(problems))
        outcome["errors"] = problems[:MAX_REPORTED]
    return outcome
