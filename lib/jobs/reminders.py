"""reminders: deliver due reminders through Telegram at its pace, and settle every outcome.

A run claims due rows in batches (a lease and a fresh claim_token on up to
REMINDER_BATCH_SIZE rows per call) and sends them at Telegram's pace
(lib/outbound/pace.py). The next batch is claimed while the last sends of the previous
one are in flight. Outcomes are settled as they complete, in groups written
alongside sending (lib/jobs/settling.py: at least every 0.5 s, one call per group,
applied only where the token still matches). Delivery is at least once: a
crash repeats, after the lease, only the sends in flight and those finished in
the last half second, never a whole batch. A row the sweep cannot read (a
due_at of -infinity, a BC date) is settled failed with the reason, and the
batch goes on. Reminders the budget leaves unsent are released untouched for
the next run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lib.backoff import CAP_SECONDS, backoff_seconds
from lib.clock.quiet_hours import ActiveHours, deferral, parse_active_hours
from lib.db import DatabaseError
from lib.db.queries._parse import Unreadable
from lib.db.queries.reminders import ClaimedReminder as Claimed
from lib.db.queries.reminders import (
    ReminderSettle,
    SettledReminder,
    UnreadableReminder,
    claim_due_reminders,
    list_due_reminders,
    settle_reminders,
)
from lib.db.statuses import ReminderOutcome, ReminderStatus
from lib.deadline import RESERVE_SECONDS
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.settling import Settler
from lib.outbound.pace import Dispatcher, Pace
from lib.outbound.telegram import Delivery, message_text, send_message, token_problem
from lib.settings import Settings

log = logging.getLogger("cronrelay.reminders")

MAX_LIMIT = 100_000
# Sends in flight at once. Telegram answers in 50-300 ms from most regions, so
# 16 keeps up with its ~30/s limit with room to spare, and stays well inside
# the shared HTTP client's connection pool.
MAX_IN_FLIGHT = 16
SEND_TIMEOUT_SECONDS = 10.0
# A send started with less time than this left in the budget could only time out.
MIN_SEND_SECONDS = 0.5
# Sends of one reminder within a run when Telegram keeps answering 429.
MAX_TRIES_PER_RUN = 3
DRY_RUN_CAP = 10_000
SAMPLE_SIZE = 100
STAT_NAMES = (
    "claimed", "delivered", "exhausted", "retrying", "failed", "deferred", "released",
    "rate_limited", "not_settled", "batches",
)  # fmt: skip


class TelegramMisconfigured(RuntimeError):
    """Telegram refused the bot token or the API base: no reminder is at fault, the run is."""


def config_problem(settings: Settings) -> str | None:
    token = settings.telegram_bot_token
    problem = token_problem(token.get_secret_value() if token else None)
    if problem:
        return problem
    try:
        parse_active_hours(settings.reminder_active_hours, settings.reminder_timezone)
    except ValueError as error:
        return str(error)
    return None


async def reminders(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    problem = config_problem(settings)
    if problem:
        # The route answers 503 before this; a run reached another way
        # (CLI, run request) must still touch nothing.
        raise TelegramMisconfigured(problem)
    hours = parse_active_hours(settings.reminder_active_hours, settings.reminder_timezone)
    if ctx.dry_run:
        return await _dry_run(ctx, hours)

    sweep = _Sweep(ctx, hours, _cutoff(ctx))
    try:
        dispatcher = Dispatcher(
            pace=Pace(settings.telegram_max_per_second, MAX_IN_FLIGHT),
            key=lambda claimed: claimed.telegram_id,
            send=sweep.send,
            done=sweep.done,
            retry_after=lambda delivery: delivery.retry_after,
            stop=lambda delivery: delivery.outcome == "misconfigured",
            max_tries=MAX_TRIES_PER_RUN,
        )
        await dispatcher.run([], cutoff=sweep.cutoff, more=sweep.claim)
    finally:
        # Whatever happened, every outcome the run has is written before it ends.
        settle_errors = await sweep.settler.close()
    for error in (*settle_errors, sweep.claim_error):
        if isinstance(error, BaseException):
            raise error
    if sweep.misconfigured:
        raise TelegramMisconfigured(sweep.misconfigured)
    counts = sweep.counts
    stats: dict[str, Any] = {name: counts[name] for name in STAT_NAMES}
    # Work is left when the budget or `limit` stopped the claims, or sends were left undone.
    has_more = not sweep.drained or sweep.released > 0
    return JobResult(stats=stats, has_more=has_more, failures=counts["failed"] + counts["retrying"])


@dataclass
class _Sweep:
    """One run's claims, sends and settles.

    `claim` feeds the dispatcher while the previous batch's last sends are
    still in flight. Each outcome goes to the settler as soon as it is known,
    and the settler writes them in groups alongside sending, so neither a
    batch boundary nor a settle costs sending time, and a crash repeats only
    the sends in flight and those finished in the last half second.
    """

    ctx: JobContext
    hours: ActiveHours | None
    cutoff: float
    counts: Counter[str] = field(default_factory=Counter)
    settler: Settler[ReminderSettle] = field(init=False)
    # A claim came back short: nothing else is due.
    drained: bool = False
    released: int = 0
    claim_error: Exception | None = None
    misconfigured: str | None = None

    def __post_init__(self) -> None:
        self.settler = Settler(self._settle)

    async def claim(self) -> list[Claimed]:
        """The next reminders to send; [] when nothing is due, the limit is reached or time is up."""
        settings = self.ctx.settings
        while not self.drained and self.claim_error is None and self.misconfigured is None:
            size = settings.reminder_batch_size
            if self.ctx.limit is not None:
                size = min(size, self.ctx.limit - self.counts["claimed"])
            if size <= 0 or time.monotonic() >= self.cutoff:
                return []
            try:
                rows = await claim_due_reminders(self.ctx.db, batch_size=size, lease_seconds=settings.lease_seconds)
            except DatabaseError as error:
                # Let the sends in flight finish and be settled; the run fails after.
                self.claim_error = error
                return []
            self.drained = len(rows) < size
            if not rows:
                return []
            self.counts["claimed"] += len(rows)
            self.counts["batches"] += 1
            sendable = self._triage(rows)
            if sendable:
                return sendable
        return []

    def _triage(self, rows: list[Claimed | UnreadableReminder]) -> list[Claimed]:
        """Settle what needs no send (unreadable rows, quiet hours, no chat); return the rest, oldest first."""
        until = deferral(self.hours, datetime.now(UTC))
        readable: list[Claimed] = []
        for row in rows:
            if isinstance(row, UnreadableReminder):
                self._unreadable(row)
            else:
                readable.append(row)
        # The claim's rows come back in no particular order; send oldest first.
        readable.sort(key=lambda c: (c.due_at, c.id))
        sendable: list[Claimed] = []
        for claimed in readable:
            if until is not None:
                self._record(claimed, "deferred", until=until.isoformat())
            elif claimed.telegram_id is None:
                self._record(claimed, "permanent", error="telegram_id is null: no chat to send to")
            else:
                sendable.append(claimed)
        return sendable

    def _unreadable(self, row: UnreadableReminder) -> None:
        """A row this sweep cannot handle fails on its own, with the reason, and the batch goes on."""
        log.warning("reminder %s cannot be handled: %s", row.label, row.reason)
        if row.id is None or row.claim_token is None:
            # Not even settleable: its lease runs out and the row stays as it was.
            self.counts["not_settled"] += 1
            return
        error = f"cannot be handled: {row.reason}"[:500]
        self.settler.add(ReminderSettle(row.id, row.claim_token, ReminderOutcome.PERMANENT, error=error))

    async def send(self, claimed: Claimed, sent: Callable[[], None]) -> Delivery:
        """Send one reminder. Never raises: whatever goes wrong is this reminder's outcome."""
        settings = self.ctx.settings
        assert claimed.telegram_id is not None and settings.telegram_bot_token is not None
        try:
            text, note = message_text(claimed.draft_text)
        except Exception as error:  # an odd draft must not take the batch down with it
            return Delivery("permanent", f"draft_text cannot be sent: {type(error).__name__}")
        try:
            delivery = await send_message(
                api_base=settings.telegram_api_base,
                token=settings.telegram_bot_token.get_secret_value(),
                chat_id=claimed.telegram_id,
                text=text,
                time_limit=self.ctx.deadline.timeout(SEND_TIMEOUT_SECONDS),
                sent=sent,
            )
        except Exception as error:
            log.exception("sending reminder %s failed unexpectedly", claimed.id)
            return Delivery("transient", f"internal error while sending: {type(error).__name__}")
        if delivery.rate_limited:
            self.counts["rate_limited"] += 1
        # A draft that had to be cut is delivered, with a note saying so.
        return replace(delivery, error=note) if delivery.outcome == "delivered" and note else delivery

    def done(self, claimed: Claimed, delivery: Delivery | None) -> None:
        if delivery is None or delivery.outcome == "misconfigured":
            # Not attempted, or not this reminder's fault: back as it was.
            if delivery is not None:
                self.misconfigured = delivery.error
            self.released += 1
            self._record(claimed, "released")
        elif delivery.outcome == "transient":
            delay = delivery.retry_after
            if delay is None:
                delay = backoff_seconds(claimed.attempts + 1)
            self._record(claimed, "transient", error=delivery.error, delay_seconds=min(delay, CAP_SECONDS))
        else:
            self._record(claimed, delivery.outcome, error=delivery.error)

    def _record(self, claimed: Claimed, outcome: str, **details: Any) -> None:
        self.settler.add(ReminderSettle(claimed.id, claimed.claim_token, ReminderOutcome(outcome), **details))

    async def _settle(self, outcomes: list[ReminderSettle]) -> None:
        settings = self.ctx.settings
        settled = await settle_reminders(
            self.ctx.db,
            outcomes=outcomes,
            repeat_hours=settings.reminder_repeat_hours,
            max_count=settings.reminder_max_count,
            max_attempts=settings.delivery_max_attempts,
        )
        _count(self.counts, outcomes, settled)


def _count(counts: Counter[str], outcomes: list[ReminderSettle], settled: list[SettledReminder]) -> None:
    """Stats from what settle_reminders actually changed."""
    for row in settled:
        outcome, status = row.outcome, row.status
        if outcome == ReminderOutcome.DELIVERED:
            counts["delivered"] += 1
            counts["exhausted"] += status == ReminderStatus.EXHAUSTED
        elif outcome in (ReminderOutcome.TRANSIENT, ReminderOutcome.PERMANENT):
            counts["failed" if status == ReminderStatus.FAILED else "retrying"] += 1
        else:
            counts[outcome] += 1
    # Rows the bot snoozed, completed or cancelled while we were sending.
    counts["not_settled"] += len(outcomes) - len(settled)


def _cutoff(ctx: JobContext) -> float:
    """The monotonic time after which no send may start: it must end, and be settled, within the budget."""
    return ctx.deadline.expires_at - RESERVE_SECONDS - MIN_SEND_SECONDS


async def _dry_run(ctx: JobContext, hours: ActiveHours | None) -> JobResult:
    cap = ctx.limit or DRY_RUN_CAP
    rows = await list_due_reminders(ctx.db, limit=cap + 1)
    due = rows[:cap]
    until = deferral(hours, datetime.now(UTC))
    # A row the sweep cannot read fails whatever the hour, as the real run would fail it.
    readable = [row for row in due if not isinstance(row.due_at, Unreadable)]
    unreadable = len(due) - len(readable)
    no_chat = sum(1 for row in readable if row.telegram_id is None)
    stats: dict[str, Any] = {
        "due": len(due),
        "would_send": 0 if until else len(readable) - no_chat,
        "would_fail": unreadable + (0 if until else no_chat),
        "would_defer": len(readable) if until else 0,
        "reminders": [row.id for row in due[:SAMPLE_SIZE]],
    }
    if until:
        stats["next_window_start"] = until.isoformat()
    return JobResult(stats=stats, has_more=len(rows) > cap)


JOB = Job(
    name="reminders",
    run=reminders,
    summary="deliver due reminders through Telegram, settle each outcome",
    max_limit=MAX_LIMIT,
    config_problem=config_problem,
)
