"""Claim the deliveries that are due, send each to its channel, settle each outcome.

Called right after a run (so a failure is reported while it is news), by
every `schedule` tick (which retries whatever is due), by check-stale after
it queues agents.offline, and by `alerts test`. Deliveries are claimed with a
lease and settled in groups as they complete (lib/jobs/settling.py), token-
guarded: two senders never send the same delivery, and a crash repeats at
most what was in flight and what finished in the last half second.
Nothing here raises: a failing alert never fails the run that sent it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from lib.alerts.channels import FORMATTERS, configured
from lib.alerts.model import Alert
from lib.alerts.retry import honoured
from lib.alerts.send import post_json, verdict
from lib.db import Database, DatabaseError
from lib.db.queries.alerts import Settle, claim_alert_deliveries, settle_alert_deliveries
from lib.deadline import Deadline
from lib.jobs.settling import Settler
from lib.outbound.policy import TargetAccess
from lib.settings import Settings

log = logging.getLogger("cronrelay.alerts")

# Deliveries claimed per call; more wait for the next run or tick.
CLAIM_LIMIT = 50
# One delivery's call, at most.
CALL_SECONDS = 5.0
# However many deliveries and however slow the receivers, alerts get a few
# seconds of a run, not the rest of its budget.
SEND_SECONDS = 10.0
CONCURRENCY = 8
# The run's budget left that a send round needs (the deadline's reserve plus a second).
TIME_NEEDED = 2.0
# Problems listed in a run's stats, so its answer stays small.
MAX_REPORTED = 5


@dataclass
class AlertStats:
    """A run's `stats.alerts`: what it tried to deliver and what came of it."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def as_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"sent": self.sent, "failed": self.failed, "pending": self.pending}
        if self.dead:
            stats["dead"] = self.dead
        if self.errors:
            stats["errors"] = self.errors[:MAX_REPORTED]
        return stats


async def deliver_due(db: Database, settings: Settings, deadline: Deadline) -> AlertStats | None:
    """Send what is due now, a claim at a time, for at most SEND_SECONDS; None when nothing was (or could be) tried."""
    if deadline.expired(reserve=TIME_NEEDED):
        return None  # claimed rows would only wait out their lease; the next tick sends them
    budget = min(deadline, Deadline.after(SEND_SECONDS), key=lambda d: d.expires_at)
    stats = AlertStats()
    tried = False
    while True:
        try:
            rows = await claim_alert_deliveries(
                db,
                channels=configured(settings),
                limit=CLAIM_LIMIT,
                # As every queue here: longer than the run's budget, so never while a send is under way.
                lease_seconds=settings.lease_seconds,
                max_attempts=settings.alert_max_attempts,
            )
        except DatabaseError as error:
            log.error("alerts: claiming deliveries failed: %s", settings.redact(str(error)))
            break
        if not rows:
            break
        tried = True
        await _send_round(db, settings, [Alert.from_row(row) for row in rows], budget, stats)
        if len(rows) < CLAIM_LIMIT or budget.expired(reserve=TIME_NEEDED):
            break
    return stats if tried else None


async def _send_round(
    db: Database, settings: Settings, alerts: list[Alert], budget: Deadline, stats: AlertStats
) -> None:
    """Send one claim's deliveries, CONCURRENCY at a time, settling them in groups as they complete."""
    statuses: dict[int, str] = {}

    async def write(group: list[Settle]) -> None:
        statuses.update(await settle_alert_deliveries(db, outcomes=group))

    settler: Settler[Settle] = Settler(write)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(alert: Alert) -> None:
        async with gate:
            outcome = await _attempt(alert, settings, budget)
        settler.add(outcome)
        if outcome.outcome in ("retry", "dead"):
            stats.failed += 1
            line = f"{alert.event} for {alert.job} via {alert.channel}: {outcome.error}"
            stats.errors.append(line)
            log.error("alerts: %s", settings.redact(line))

    try:
        await asyncio.gather(*(one(alert) for alert in alerts))
    finally:
        for problem in await settler.close():
            log.error("alerts: settling deliveries failed: %s", settings.redact(str(problem)))
    for alert in alerts:
        status = statuses.get(alert.delivery_id)
        if status == "sent":
            stats.sent += 1
        elif status == "dead":
            stats.dead += 1
        else:
            # Retried later, released unsent, or not settled (its lease will lapse): still to go.
            stats.pending += 1
    log.info(
        "alerts: %d sent, %d failed, %d pending (%s)",
        stats.sent,
        stats.failed,
        stats.pending,
        ", ".join(f"{a.event} for {a.job} via {a.channel}" for a in alerts[:MAX_REPORTED]),
    )


async def _attempt(alert: Alert, settings: Settings, budget: Deadline) -> Settle:
    """One delivery's call and its outcome; released unsent when the budget has no time left for it."""
    timeout = budget.timeout(CALL_SECONDS)
    formatter = FORMATTERS.get(alert.channel)
    if timeout <= 0.5 or formatter is None or alert.channel not in configured(settings):
        return Settle(alert.delivery_id, alert.claim_token, "release")
    try:
        outgoing = formatter(alert, settings)
    except Exception as problem:  # a payload no formatter foresaw must not take the other deliveries with it
        log.exception("alerts: formatting %s for %s failed", alert.event, alert.channel)
        return Settle(alert.delivery_id, alert.claim_token, "dead", error=f"cannot format: {type(problem).__name__}")
    # Telegram's API base is the deployment's own setting; every other channel is a URL someone pasted.
    access = None if alert.channel == "telegram" else TargetAccess.of(settings)
    answer = await post_json(outgoing.url, outgoing.body, outgoing.headers, timeout, access)
    result, error = verdict(answer)
    if result == "retry":
        return Settle(
            alert.delivery_id,
            alert.claim_token,
            "retry",
            error=error,
            status_code=answer.status,
            retry_in_seconds=honoured(answer.retry_after, alert.attempts),
        )
    return Settle(alert.delivery_id, alert.claim_token, result, error=error, status_code=answer.status)
