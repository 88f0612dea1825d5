"""Database-defined schedules: migrations' schedules concern (the schedule job).

Schedule rows are written by users and other apps, so their timestamps are
parsed defensively: an unusable one comes back as an `Unreadable`, and the
schedule job records that row as invalid while the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lib.db.port import Database
from lib.db.queries._parse import Unreadable, optional_instant, timestamp
from lib.db.statuses import ScheduleType


@dataclass(frozen=True)
class DueSchedule:
    id: str
    project_id: str
    name: str
    schedule: str | None
    schedule_type: ScheduleType
    timezone: str
    next_run_at: datetime | Unreadable | None
    # The database's clock at the claim, so "due" means the same here as in SQL.
    db_now: datetime
    # Set when a paused job was resumed: ticks missed while paused are dropped.
    resumed_at: datetime | Unreadable | None
    created_at: datetime | Unreadable | None
    # None for a dry run, which claims nothing.
    claim_token: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DueSchedule:
        return cls(
            id=str(row["id"]),
            project_id=str(row["project_id"]),
            name=str(row["name"]),
            schedule=row.get("schedule"),
            schedule_type=ScheduleType(row["schedule_type"]),
            timezone=str(row["timezone"]),
            next_run_at=optional_instant(row.get("next_run_at"), "next_run_at"),
            db_now=timestamp(row["db_now"], "db_now"),
            resumed_at=optional_instant(row.get("resumed_at"), "resumed_at"),
            created_at=optional_instant(row.get("created_at"), "created_at"),
            claim_token=str(row["claim_token"]) if row.get("claim_token") is not None else None,
        )


@dataclass(frozen=True)
class SchedulePlan:
    """What to do with one claimed schedule: one element of advance_schedules' items."""

    id: str
    claim_token: str | None
    # The tick being fired now; None when nothing fires (first scheduling, a paused skip, an error).
    scheduled_at: datetime | None
    next_run_at: datetime | None
    # A `once` that has fired: it never fires again.
    fired: bool = False
    # Due while the job was paused: moved on without firing.
    skipped: bool = False
    # Why the row can never be scheduled; recorded, and not claimed again until it changes.
    error: str | None = None

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim_token": self.claim_token,
            "scheduled_at": _iso(self.scheduled_at),
            "next_run_at": _iso(self.next_run_at),
            "fired": self.fired,
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass(frozen=True)
class Advanced:
    job_id: str
    # False when our claim lapsed and another run took the row over.
    applied: bool
    # False when the tick's request already existed (its dedup key).
    enqueued: bool
    request_id: str | None
    dedup_key: str | None
    # Nothing inserted: the job's previous scheduled request has not finished.
    coalesced: bool = False


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


async def claim_due_schedules(
    db: Database, *, limit: int, lease_seconds: int, due_before: datetime | None = None
) -> list[DueSchedule]:
    """Lease up to `limit` enabled schedules whose next_run_at has come (or that were never scheduled).

    `due_before` (the run's first claim's db_now) keeps a run to the ticks due at its start.
    """
    rows = await db.call("claim_due_schedules", p_limit=limit, p_lease_seconds=lease_seconds, p_due_before=due_before)
    return [DueSchedule.from_row(row) for row in rows]


async def list_due_schedules(db: Database, *, limit: int) -> list[DueSchedule]:
    """What `claim_due_schedules` would take, untouched (a dry run)."""
    rows = await db.call("list_due_schedules", p_limit=limit)
    return [DueSchedule.from_row(row) for row in rows]


async def advance_schedules(db: Database, *, plans: Sequence[SchedulePlan]) -> list[Advanced]:
    """Insert the due run requests and move next_run_at, in one token-guarded statement."""
    rows = await db.call("advance_schedules", p_items=[plan.item() for plan in plans])
    return [
        Advanced(
            job_id=str(row["job_id"]),
            applied=bool(row["applied"]),
            enqueued=bool(row["enqueued"]),
            request_id=str(row["request_id"]) if row.get("request_id") is not None else None,
            dedup_key=row.get("dedup_key"),
            coalesced=bool(row.get("coalesced")),
        )
        for row in rows
    ]
