"""Alert episodes and the delivery queue: migrations' alerts and alert_deliveries concerns.

Episodes open and close in SQL (triggers on the ledger and the run requests,
and sweep_overdue_jobs) and queue their events; Python computes overdue
deadlines, which need the schedules' fire times, and sends the deliveries
these calls hand out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lib.db.port import Database
from lib.db.queries._parse import Unreadable, first, instant, optional_instant


@dataclass(frozen=True)
class WatchedJob:
    """A scheduled job whose overdue deadline must be computed from `basis` (its last start)."""

    id: str
    name: str
    schedule: str
    schedule_type: str
    timezone: str
    basis: datetime | Unreadable
    # The database's own text of `basis`: sent back as is, so the deadline
    # matches the basis exactly, with no round trip through datetime.
    basis_text: str
    grace: timedelta

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WatchedJob:
        return cls(
            id=str(row["id"]),
            name=str(row["name"]),
            schedule=str(row["schedule"]),
            schedule_type=str(row["schedule_type"]),
            timezone=str(row["timezone"]),
            basis=instant(row["basis"], "basis"),
            basis_text=str(row["basis"]),
            grace=timedelta(seconds=float(row.get("grace_seconds") or 0)),
        )


@dataclass(frozen=True)
class OverdueDeadline:
    """When a watched job becomes overdue; `due_by` None when its schedule has no usable fire time."""

    job_id: str
    due_basis: str
    due_by: datetime | None

    def item(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "due_basis": self.due_basis,
            "due_by": self.due_by.isoformat() if self.due_by else None,
        }


@dataclass(frozen=True)
class Swept:
    """What one sweep queued: overdue episodes opened, and repeats of open episodes."""

    opened: int
    repeated: int


@dataclass(frozen=True)
class Settle:
    """One delivery's outcome, applied only while `claim_token` still holds it."""

    id: int
    claim_token: str
    outcome: str  # sent | retry | dead | release
    error: str | None = None
    status_code: int | None = None
    retry_in_seconds: float | None = None

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim_token": self.claim_token,
            "outcome": self.outcome,
            "error": self.error,
            "status_code": self.status_code,
            "retry_in_seconds": self.retry_in_seconds,
        }


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    alert_id: str


@dataclass(frozen=True)
class AlertHealth:
    overdue: int
    pending: int
    dead: int


async def list_jobs_to_watch(db: Database, *, limit: int) -> list[WatchedJob]:
    """Scheduled, enabled jobs that started (or were created or resumed) since their deadline was computed."""
    rows = await db.call("list_jobs_to_watch", p_limit=limit)
    return [WatchedJob.from_row(row) for row in rows]


async def sweep_overdue_jobs(db: Database, *, deadlines: Sequence[OverdueDeadline]) -> Swept:
    """Record deadlines, open overdue episodes and queue the re-alerts due; events go to the delivery queue."""
    row = first(
        await db.call("sweep_overdue_jobs", p_deadlines=[deadline.item() for deadline in deadlines]),
        "sweep_overdue_jobs",
    )
    return Swept(opened=int(row["opened"] or 0), repeated=int(row["repeated"] or 0))


async def queue_alert_event(db: Database, *, event: str, payload: dict[str, Any]) -> QueuedEvent:
    """Queue an event Python raises itself (agents.offline, alert.test); a fresh key per call makes an
    adapter's repeat of it (after a lost answer) find this event instead of queueing a second."""
    row = first(
        await db.call("queue_alert_event", p_event=event, p_payload=payload, p_dedup_key=f"{event}:{uuid.uuid4()}"),
        "queue_alert_event",
    )
    return QueuedEvent(id=int(row["id"]), alert_id=str(row["alert_id"]))


async def claim_alert_deliveries(
    db: Database, *, channels: Sequence[str], limit: int, lease_seconds: int, max_attempts: int
) -> list[dict[str, Any]]:
    """Route queued events to `channels`, then claim due deliveries (rows; lib.alerts.model reads them)."""
    rows = await db.call(
        "claim_alert_deliveries",
        p_channels=list(channels),
        p_limit=limit,
        p_lease_seconds=lease_seconds,
        p_max_attempts=max_attempts,
    )
    return sorted(rows, key=lambda row: int(row["id"]))


async def settle_alert_deliveries(db: Database, *, outcomes: Sequence[Settle]) -> dict[int, str]:
    """Apply outcomes where the claim still holds; the new status of each row changed, by id."""
    if not outcomes:
        return {}
    rows = await db.call("settle_alert_deliveries", p_outcomes=[outcome.item() for outcome in outcomes])
    return {int(row["id"]): str(row["status"]) for row in rows}


async def list_alerts(db: Database, *, limit: int, before_id: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """The newest events, each with its deliveries; and whether older ones follow."""
    row = first(await db.call("list_alerts", p_limit=limit, p_before_id=before_id), "list_alerts")
    alerts = row["alerts"]
    return (alerts if isinstance(alerts, list) else []), bool(row["has_more"])


async def alert_health(db: Database) -> AlertHealth:
    """Jobs overdue, deliveries pending and dead (for /api/health: counts, nothing more), in one call."""
    row = first(await db.call("alert_health"), "alert_health")
    return AlertHealth(overdue=int(row["overdue"]), pending=int(row["alerts_pending"]), dead=int(row["alerts_dead"]))


async def prune_alert_history(db: Database, *, retention_days: int, batch_size: int) -> int:
    """Delete one batch of old events whose deliveries are all final; how many went."""
    row = first(
        await db.call("prune_alert_history", p_retention_days=retention_days, p_batch_size=batch_size),
        "prune_alert_history",
    )
    return int(row["deleted_alerts"])


async def record_run_alerts(db: Database, *, run_id: int, alerts: dict[str, Any]) -> bool:
    """Add `stats.alerts` to a finished run's ledger row; False when there is no such finished run."""
    row = first(await db.call("record_run_alerts", p_run_id=run_id, p_alerts=alerts), "record_run_alerts")
    return bool(row["recorded"])


async def count_overdue_jobs(db: Database) -> int:
    """How many jobs are overdue right now (for /api/health: a count, no names)."""
    return int(first(await db.call("count_overdue_jobs"), "count_overdue_jobs")["overdue"])


@dataclass(frozen=True)
class ChannelPending:
    """Deliveries still pending on one channel, and when the oldest of them was made."""

    channel: str
    pending: int
    oldest_at: datetime | Unreadable | None


async def abandon_alert_deliveries(
    db: Database, *, channels: Sequence[str], settings: Mapping[str, str], horizon_seconds: int, limit: int
) -> dict[str, int]:
    """End (dead) pending deliveries no process with their channel claimed within the horizon; counts by channel.

    `settings` names each channel's setting, for the error the rows keep."""
    rows = await db.call(
        "abandon_alert_deliveries",
        p_channels=list(channels),
        p_settings=dict(settings),
        p_horizon_seconds=horizon_seconds,
        p_limit=limit,
    )
    return {str(row["channel"]): int(row["abandoned"]) for row in rows}


async def alert_pending_by_channel(db: Database) -> list[ChannelPending]:
    """Pending deliveries per channel (counts, at most one row per channel)."""
    rows = await db.call("alert_pending_by_channel")
    return [
        ChannelPending(
            channel=str(row["channel"]),
            pending=int(row["pending"]),
            oldest_at=optional_instant(row.get("oldest_at"), "oldest_at"),
        )
        for row in rows
    ]
