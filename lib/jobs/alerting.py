"""job.failed, job.overdue and job.recovered: overdue deadlines, re-alerts, and delivering what is due.

The episodes themselves live in SQL (repeatable/alerts.sql): a run or run
request that ends opens or closes one in its own transaction and queues the
event, so one episode alerts once however many runs, drains and ticks race.
Here:
- `after_run`: the runner delivers what is due right after a run, so a
  failure is reported while it is news (the run's answer and ledger row get
  `stats.alerts`);
- `tick`: the `schedule` job computes each scheduled job's overdue deadline
  (fire times need croniter and zoneinfo), lets the database open overdue
  episodes and queue re-alerts, ends deliveries for a channel configured nowhere
  (lib/alerts/abandon.py), and delivers whatever is due, retries included.
Nothing here raises: a failing alert never fails the run that sent it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from lib.alerts.abandon import abandon_stranded
from lib.alerts.deliver import AlertStats, deliver_due
from lib.clock.schedules import ScheduleError, next_cron_fire, parse_schedule
from lib.db import Database, DatabaseError
from lib.db.queries._parse import Unreadable
from lib.db.queries.alerts import OverdueDeadline, WatchedJob, list_jobs_to_watch, sweep_overdue_jobs
from lib.deadline import Deadline
from lib.settings import Settings

log = logging.getLogger("cronrelay.alerts")

# A job is overdue when it has not started for two of its intervals plus its
# overdue_grace (cron_jobs, 5 minutes unless set).
MISSED_INTERVALS = 2
# Deadlines computed per tick; the rest wait for the next tick.
WATCH_BATCH = 500
# The run's budget left that the sweep needs (the deadline's reserve plus a second).
ALERT_TIME_NEEDED = 2.0


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
    grace = max(job.grace, timedelta(0))
    try:
        schedule = parse_schedule(
            "cron" if vercel else job.schedule_type, job.schedule, "UTC" if vercel else job.timezone
        )
        if schedule.kind == "interval":
            assert schedule.every is not None
            return job.basis + MISSED_INTERVALS * schedule.every + grace
        fire = job.basis
        for _ in range(MISSED_INTERVALS):
            fire = next_cron_fire(schedule, fire)
        return fire + grace
    except (ScheduleError, OverflowError, ValueError):
        # An unusable schedule is the schedule job's to report (schedule_error);
        # it cannot be overdue on a schedule it does not have.
        return None


async def tick(db: Database, settings: Settings, deadline: Deadline) -> dict[str, Any]:
    """The schedule tick's part: deadlines, overdue episodes and re-alerts, then deliver what is due."""
    stats: dict[str, Any] = {"overdue": 0, "repeats": 0, "sent": 0, "failed": 0, "pending": 0}
    if deadline.expired(reserve=ALERT_TIME_NEEDED):
        # The next tick sweeps; what is due waits in the queue.
        return {**stats, "deferred": True}
    try:
        watched = await list_jobs_to_watch(db, limit=WATCH_BATCH)
        swept = await sweep_overdue_jobs(db, deadlines=[overdue_deadline(job) for job in watched])
    except DatabaseError as error:
        log.error("alerts: the overdue sweep failed: %s", settings.redact(str(error)))
        stats["errors"] = [f"overdue sweep failed: {type(error).__name__}"]
    else:
        stats["overdue"], stats["repeats"] = swept.opened, swept.repeated
    # Before sending: what nobody can send leaves the queue (and health's pending count) first.
    abandoned = await abandon_stranded(db, settings)
    stats["abandoned"] = sum(abandoned.values())
    if abandoned:
        stats["abandoned_channels"] = sorted(abandoned)
    delivered = await deliver_due(db, settings, deadline)
    return {**stats, **(delivered.as_stats() if delivered else {})}


async def after_run(db: Database, settings: Settings, deadline: Deadline) -> AlertStats | None:
    """Deliver what the run just queued (job.failed, job.recovered) and anything else due; None when nothing was."""
    return await deliver_due(db, settings, deadline)
