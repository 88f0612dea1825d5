"""reminders: deliver due reminders through Telegram at its pace, and settle every outcome.

Each batch costs two database calls: one claim (a lease and a fresh
claim_token on up to REMINDER_BATCH_SIZE due rows) and one settle (every
outcome of the batch, applied only where the token still matches). Between
them the batch is sent at Telegram's pace (lib/pace.py). The next batch is
claimed while the last sends of the previous one are in flight, and settles
run alongside sending, so batch boundaries cost no sending time. Reminders the
budget leaves unsent are released untouched for the next run. Delivery is at
least once: a crash between a send and its settle repeats that one message
after the lease.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lib.backoff import backoff_seconds
from lib.db import DatabaseError
from lib.deadline import RESERVE_SECONDS
from lib.jobs.base import Job, JobContext, JobResult
from lib.notifiers.telegram import Delivery, message_text, send_message, token_problem
from lib.pace import Pace, dispatch
from lib.quiet_hours import ActiveHours, deferral, parse_active_hours
from lib.settings import Settings

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


@dataclass(frozen=True)
class Claimed:
    id: int
    telegram_id: int | None
    draft_text: str | None
    attempts: int
    claim_token: str
    due_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claimed:
        return cls(
            id=int(row["id"]),
            telegram_id=None if row["telegram_id"] is None else int(row["telegram_id"]),
            draft_text=row["draft_text"],
            attempts=int(row["attempts"]),
            claim_token=str(row["claim_token"]),
            due_at=datetime.fromisoformat(row["due_at"]),
        )


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
        await dispatch(
            [],
            more=sweep.claim,
            pace=Pace(settings.telegram_max_per_second, MAX_IN_FLIGHT),
            key=lambda claimed: claimed.telegram_id,
            send=sweep.send,
            done=sweep.done,
            cutoff=sweep.cutoff,
            retry_after=lambda delivery: delivery.retry_after,
            stop=lambda delivery: delivery.outcome == "misconfigured",
            max_tries=MAX_TRIES_PER_RUN,
        )
    finally:
        # Whatever happened, every batch whose reminders all have an outcome is settled.
        settled = await asyncio.gather(*sweep.settles, return_exceptions=True)
    for error in (*settled, sweep.claim_error):
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
class _Batch:
    claimed: list[Claimed]
    outcomes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Sweep:
    """One run's batches: claimed on demand, each settled once all its reminders have an outcome.

    `claim` feeds the dispatcher while the previous batch's last sends are
    still in flight, and each settle runs alongside the next batch's sends, so
    the database round trips cost no sending time.
    """

    ctx: JobContext
    hours: ActiveHours | None
    cutoff: float
    counts: Counter[str] = field(default_factory=Counter)
    settles: list[asyncio.Task[None]] = field(default_factory=list)
    # A claim came back short: nothing else is due.
    drained: bool = False
    released: int = 0
    claim_error: Exception | None = None
    misconfigured: str | None = None
    _batch_of: dict[int, _Batch] = field(default_factory=dict)

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
                rows = await self.ctx.db.call(
                    "claim_due_reminders", p_batch_size=size, p_lease_seconds=settings.lease_seconds
                )
            except DatabaseError as error:
                # Let the sends in flight finish and be settled; the run fails after.
                self.claim_error = error
                return []
            self.drained = len(rows) < size
            if not rows:
                return []
            self.counts["claimed"] += len(rows)
            self.counts["batches"] += 1
            # The claim's rows come back in no particular order; send oldest first.
            batch = _Batch(sorted((Claimed.from_row(row) for row in rows), key=lambda c: (c.due_at, c.id)))
            sendable = self._triage(batch)
            if sendable:
                return sendable
        return []

    def _triage(self, batch: _Batch) -> list[Claimed]:
        """Settle what needs no send (quiet hours, no chat); return the rest."""
        until = deferral(self.hours, datetime.now(UTC))
        for claimed in batch.claimed:
            self._batch_of[claimed.id] = batch
        sendable: list[Claimed] = []
        for claimed in batch.claimed:
            if until is not None:
                self._record(claimed, "deferred", until=until.isoformat())
            elif claimed.telegram_id is None:
                self._record(claimed, "permanent", error="telegram_id is null: no chat to send to")
            else:
                sendable.append(claimed)
        return sendable

    async def send(self, claimed: Claimed, sent: Callable[[], None]) -> Delivery:
        settings = self.ctx.settings
        assert claimed.telegram_id is not None and settings.telegram_bot_token is not None
        text, note = message_text(claimed.draft_text)
        delivery = await send_message(
            api_base=settings.telegram_api_base,
            token=settings.telegram_bot_token.get_secret_value(),
            chat_id=claimed.telegram_id,
            text=text,
            time_limit=self.ctx.deadline.timeout(SEND_TIMEOUT_SECONDS),
            sent=sent,
        )
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
            self._record(claimed, "transient", error=delivery.error, delay_seconds=delay)
        else:
            self._record(claimed, delivery.outcome, error=delivery.error)

    def _record(self, claimed: Claimed, outcome: str, **details: Any) -> None:
        batch = self._batch_of.pop(claimed.id)
        batch.outcomes.append({"id": claimed.id, "claim_token": claimed.claim_token, "outcome": outcome, **details})
        if len(batch.outcomes) == len(batch.claimed):
            self.settles.append(asyncio.create_task(self._settle(batch.outcomes)))

    async def _settle(self, outcomes: list[dict[str, Any]]) -> None:
        settings = self.ctx.settings
        settled = await self.ctx.db.call(
            "settle_reminders",
            p_outcomes=outcomes,
            p_repeat_hours=settings.reminder_repeat_hours,
            p_max_count=settings.reminder_max_count,
            p_max_attempts=settings.delivery_max_attempts,
        )
        _count(self.counts, outcomes, settled)


def _count(counts: Counter[str], outcomes: list[dict[str, Any]], settled: list[dict[str, Any]]) -> None:
    """Stats from what settle_reminders actually changed."""
    for row in settled:
        outcome, status = row["outcome"], row["status"]
        if outcome == "delivered":
            counts["delivered"] += 1
            counts["exhausted"] += status == "exhausted"
        elif outcome in ("transient", "permanent"):
            counts["failed" if status == "failed" else "retrying"] += 1
        else:
            counts[outcome] += 1
    # Rows the bot snoozed, completed or cancelled while we were sending.
    counts["not_settled"] += len(outcomes) - len(settled)


def _cutoff(ctx: JobContext) -> float:
    """The monotonic time after which no send may start: it must end, and be settled, within the budget."""
    return ctx.deadline.expires_at - RESERVE_SECONDS - MIN_SEND_SECONDS


async def _dry_run(ctx: JobContext, hours: ActiveHours | None) -> JobResult:
    cap = ctx.limit or DRY_RUN_CAP
    rows = await ctx.db.call("list_due_reminders", p_limit=cap + 1)
    due = rows[:cap]
    until = deferral(hours, datetime.now(UTC))
    no_chat = sum(1 for row in due if row["telegram_id"] is None)
    stats: dict[str, Any] = {
        "due": len(due),
        "would_send": 0 if until else len(due) - no_chat,
        "would_fail": 0 if until else no_chat,
        "would_defer": len(due) if until else 0,
        "reminders": [row["id"] for row in due[:SAMPLE_SIZE]],
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
