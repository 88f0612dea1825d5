"""Reminder delivery: migrations' reminders concern (the reminders sweep).

`snooze_reminder`, `complete_reminder` and `cancel_reminders_for_lead` are the
bot's write paths and are not wrapped: the service never calls them.

Reminder rows are written by another app (and by hand in Supabase's table
editor), so a claimed row is parsed on its own: one that cannot be used comes
back as an `UnreadableReminder` naming the column, and the sweep fails that
row alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from lib.db.port import Database
from lib.db.queries._parse import Unreadable, instant, is_int, json_type, optional_instant
from lib.db.statuses import ReminderOutcome, ReminderStatus


@dataclass(frozen=True)
class ClaimedReminder:
    id: int
    telegram_id: int | None
    draft_text: str | None
    attempts: int
    claim_token: str
    due_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ClaimedReminder:
        """The claimed row, checked; ValueError naming the column when it cannot be handled."""
        telegram_id, draft_text, attempts = row.get("telegram_id"), row.get("draft_text"), row.get("attempts")
        if telegram_id is not None and not is_int(telegram_id):
            raise ValueError(f"telegram_id is not an integer chat id (got {json_type(telegram_id)})")
        if draft_text is not None and not isinstance(draft_text, str):
            raise ValueError(f"draft_text is not text (got {json_type(draft_text)})")
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            raise ValueError(f"attempts is not an integer (got {json_type(attempts)})")
        due_at = instant(row.get("due_at"), "due_at")
        if isinstance(due_at, Unreadable):
            raise ValueError(str(due_at))
        return cls(
            id=int(row["id"]),
            telegram_id=telegram_id,
            draft_text=draft_text,
            attempts=attempts,
            claim_token=str(row["claim_token"]),
            due_at=due_at,
        )


@dataclass(frozen=True)
class UnreadableReminder:
    """A claimed row the sweep cannot handle. `id` and `claim_token` are None when even they are unusable,
    and then the row cannot be settled: its lease runs out and it stays as it was."""

    label: str
    reason: str
    id: int | None
    claim_token: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any], reason: str) -> UnreadableReminder:
        try:
            key: tuple[int | None, str | None] = (int(row["id"]), str(row["claim_token"]))
        except (KeyError, TypeError, ValueError):
            key = (None, None)
        return cls(label=str(row.get("id")), reason=reason, id=key[0], claim_token=key[1])


def _claimed(row: dict[str, Any]) -> ClaimedReminder | UnreadableReminder:
    try:
        return ClaimedReminder.from_row(row)
    except (ValueError, TypeError, KeyError) as error:
        reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        return UnreadableReminder.from_row(row, reason)


@dataclass(frozen=True)
class DueReminder:
    """A reminder the next sweep would claim (the dry run's view); `due_at` as the claim would read it."""

    id: int
    telegram_id: int | None
    due_at: datetime | Unreadable
    status: ReminderStatus
    reminder_count: int


@dataclass(frozen=True)
class ReminderSettle:
    """One element of settle_reminders' outcomes: applied only while `claim_token` still matches."""

    id: int
    claim_token: str
    outcome: ReminderOutcome
    error: str | None = None
    delay_seconds: float | None = None
    # Deferred (quiet hours): due again at this ISO instant.
    until: str | None = None


@dataclass(frozen=True)
class SettledReminder:
    id: int
    outcome: ReminderOutcome
    status: ReminderStatus
    attempts: int
    # An unusable due_at stays as it was when the outcome leaves it alone.
    due_at: datetime | Unreadable | None


async def claim_due_reminders(
    db: Database, *, batch_size: int, lease_seconds: int
) -> list[ClaimedReminder | UnreadableReminder]:
    """Lease up to `batch_size` due reminders (pending or sent, oldest first) with a fresh claim token."""
    rows = await db.call("claim_due_reminders", p_batch_size=batch_size, p_lease_seconds=lease_seconds)
    return [_claimed(row) for row in rows]


async def list_due_reminders(db: Database, *, limit: int) -> list[DueReminder]:
    """What `claim_due_reminders` would take, untouched (a dry run)."""
    rows = await db.call("list_due_reminders", p_limit=limit)
    return [
        DueReminder(
            id=int(row["id"]),
            telegram_id=row["telegram_id"],
            due_at=instant(row["due_at"], "due_at"),
            status=ReminderStatus(row["status"]),
            reminder_count=int(row["reminder_count"]),
        )
        for row in rows
    ]


async def settle_reminders(
    db: Database,
    *,
    outcomes: Sequence[ReminderSettle],
    repeat_hours: float,
    max_count: int,
    max_attempts: int,
) -> list[SettledReminder]:
    """Apply a group of outcomes in one statement; the rows it changed (a row whose token moved on is left out)."""
    rows = await db.call(
        "settle_reminders",
        p_outcomes=[asdict(outcome) for outcome in outcomes],
        p_repeat_hours=repeat_hours,
        p_max_count=max_count,
        p_max_attempts=max_attempts,
    )
    return [
        SettledReminder(
            id=int(row["id"]),
            outcome=ReminderOutcome(row["outcome"]),
            status=ReminderStatus(row["status"]),
            attempts=int(row["attempts"]),
            due_at=optional_instant(row["due_at"], "due_at"),
        )
        for row in rows
    ]
