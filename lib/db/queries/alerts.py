"""Alert episodes and their outbox: migrations' alerts concern.

Episodes open and close in SQL (triggers on the ledger and the run requests,
and sweep_overdue_jobs); Python only computes overdue deadlines, which need
the schedules' fire times, and sends the events these calls hand out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lib.db.port import Database
from lib.db.queries._parse import Unreadable, first, instant


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
class AlertEvent:
    id: int
    event: str
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertEvent:
        payload = row.get("payload")
        return cls(id=int(row["id"]), event=str(row["event"]), payload=payload if isinstance(payload, dict) else {})


async def list_jobs_to_watch(db: Database, *, limit: int) -> list[WatchedJob]:
    """Scheduled, enabled jobs that started (or were created or resumed) since their deadline was computed."""
    rows = await db.call("list_jobs_to_watch", p_limit=limit)
    return [WatchedJob.from_row(row) for row in rows]


async def sweep_overdue_jobs(
    db: Database, *, deadlines: Sequence[OverdueDeadline], claim_limit: int
) -> list[AlertEvent]:
    """Record deadlines, open overdue episodes, and claim queued events (of every kind), oldest first."""
    rows = await db.call(
        "sweep_overdue_jobs", p_deadlines=[deadline.item() for deadline in deadlines], p_claim_limit=claim_limit
    )
    return sorted((AlertEvent.from_row(row) for row in rows), key=lambda event: event.id)


async def claim_alert_events(db: Database, *, limit: int) -> list[AlertEvent]:
    """Claim queued events, oldest first: each is handed out once."""
    rows = await db.call("claim_alert_events", p_limit=limit)
    return sorted((AlertEvent.from_row(row) for row in rows), key=lambda event: event.id)


async def count_overdue_jobs(db: Database) -> int:
    """How many jobs are overdue right now (for /api/health: a count, no names)."""
    return int(first(await db.call("count_overdue_jobs"), "count_overdue_jobs")["overdue"])
