"""The reminders job end to end: real Postgres through both adapters, Telegram faked.

Telegram is a respx route where only behaviour matters, and a local server
(tests/fakes/telegram.py) where the time of each call is under test.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from lib.db import Database, database_for
from lib.deadline import Deadline
from lib.jobs.base import JobContext
from lib.jobs.reminders import reminders
from lib.migrate import vercel_crons
from lib.outbound.telegram import DEFAULT_TEXT
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import add_reminder
from tests.fakes.counting import CountingDatabase
from tests.fakes.telegram import API, TOKEN, Call, FakeTelegram, RespxTelegram, error_answer, ok_answer


@pytest.fixture
def telegram(http_mock: respx.MockRouter) -> RespxTelegram:
    fake = RespxTelegram()
    http_mock.post(url__startswith=f"{API}/bot").mock(side_effect=fake)
    return fake


@pytest.fixture
def reminder_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings for the reminders job; a high rate unless the test is about pace."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_base": API,
            "telegram_max_per_second": 1000,
        }
        values.update(overrides)
        return make_settings(**values)

    return make


async def row(sql: asyncpg.Connection, reminder_id: int) -> asyncpg.Record:
    record = await sql.fetchrow(
        """
        select r.*, extract(epoch from r.due_at - now())::float8 as due_in
          from public.scheduled_reminders r where r.id = $1
        """,
        reminder_id,
    )
    assert record is not None
    return record


async def make_due(sql: asyncpg.Connection, *ids: int) -> None:
    """Time passes: these reminders are due now."""
    await sql.execute(
        "update public.scheduled_reminders set due_at = now() - interval '1 second' where id = any($1)", ids
    )


async def run(settings: Settings, **params: Any) -> dict[str, Any]:
    async with app_client(settings) as http:
        response = await http.get("/api/cron/reminders", headers=AUTH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def context(db: Database, settings: Settings, run_id: int = 1, budget: float = 30.0) -> JobContext:
    return JobContext(
        db=db,
        settings=settings,
        deadline=Deadline.after(budget),
        run_id=run_id,
        trigger="manual",
        request_id=f"test-{run_id}",
    )


def assert_released(record: asyncpg.Record) -> None:
    """Not attempted: as it was before the claim."""
    assert record["status"] == "pending"
    assert record["attempts"] == 0
    assert record["last_error"] is None
    assert record["claim_token"] is None
    assert record["locked_until"] is None


# -- which reminders go, and how each is settled ------------------------------------------


async def test_only_due_reminders_are_sent_and_each_is_settled(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    due = await add_reminder(sql, telegram_id=1, draft_text="Follow up with Ada")
    due_again = await add_reminder(sql, telegram_id=2, status="sent", reminder_count=1)
    future = await add_reminder(sql, telegram_id=3, due_in=3600)
    completed = await add_reminder(sql, telegram_id=4, status="completed")
    cancelled = await add_reminder(sql, telegram_id=5, status="cancelled")
    failed = await add_reminder(sql, telegram_id=6, status="failed")
    exhausted = await add_reminder(sql, telegram_id=7, status="exhausted", reminder_count=3)
    snoozed = await add_reminder(sql, telegram_id=8)
    await db.call("snooze_reminder", id=snoozed, until=datetime.now(UTC) + timedelta(hours=2))

    body = await run(reminder_settings())

    assert body["status"] == "ok"
    assert body["stats"]["delivered"] == 2
    assert body["stats"]["claimed"] == 2
    assert telegram.chats() == Counter({1: 1, 2: 1})
    assert ("Follow up with Ada") in [text for _, chat, text, _ in telegram.calls if chat == 1]
    assert all(path == f"/bot{TOKEN}/sendMessage" for *_, path in telegram.calls)

    first = await row(sql, due)
    assert (first["status"], first["reminder_count"], first["attempts"]) == ("sent", 1, 0)
    assert first["last_reminded_at"] is not None
    assert first["claim_token"] is None and first["locked_until"] is None
    # Due again after REMINDER_REPEAT_HOURS (24 by default).
    assert 24 * 3600 - 60 < first["due_in"] <= 24 * 3600
    second = await row(sql, due_again)
    assert (second["status"], second["reminder_count"]) == ("sent", 2)

    for untouched, status in (
        (future, "pending"),
        (completed, "completed"),
        (cancelled, "cancelled"),
        (failed, "failed"),
        (exhausted, "exhausted"),
        (snoozed, "pending"),
    ):
        record = await row(sql, untouched)
        assert record["status"] == status
        assert record["last_reminded_at"] is None
        assert record["claim_token"] is None


async def test_a_sent_reminder_comes_back_after_the_repeat_hours_and_is_exhausted_at_the_cap(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    settings = reminder_settings(reminder_repeat_hours=2, reminder_max_count=3)
    reminder = await add_reminder(sql, telegram_id=42)

    await run(settings)
    record = await row(sql, reminder)
    assert (record["status"], record["reminder_count"]) == ("sent", 1)
    assert 2 * 3600 - 60 < record["due_in"] <= 2 * 3600

    # Not due yet: nothing goes.
    await run(settings)
    assert len(telegram.calls) == 1

    await make_due(sql, reminder)
    await run(settings)
    assert (await row(sql, reminder))["status"] == "sent"

    await make_due(sql, reminder)
    body = await run(settings)
    record = await row(sql, reminder)
    assert (record["status"], record["reminder_count"]) == ("exhausted", 3)
    assert body["stats"]["exhausted"] == 1

    # An exhausted reminder is never sent again.
    await make_due(sql, reminder)
    await run(settings)
    assert telegram.chats() == Counter({42: 3})


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (403, "Forbidden: bot was blocked by the user"),
        (403, "Forbidden: user is deactivated"),
        (403, "Forbidden: bot can't initiate conversation with a user"),
        (400, "Bad Request: chat not found"),
    ],
)
async def test_forbidden_and_chat_not_found_fail_at_once(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    status: int,
    description: str,
) -> None:
    telegram.answer = lambda chat, index: error_answer(status, description) if chat == 7 else ok_answer(chat, index)
    doomed = await add_reminder(sql, telegram_id=7)
    fine = await add_reminder(sql, telegram_id=8)

    body = await run(reminder_settings(delivery_max_attempts=5))

    record = await row(sql, doomed)
    assert record["status"] == "failed"
    assert record["last_error"] == f"HTTP {status}: {description}"
    assert record["claim_token"] is None and record["locked_until"] is None
    assert (await row(sql, fine))["status"] == "sent"
    assert body["status"] == "partial"  # some failed while others succeeded
    assert body["stats"]["failed"] == 1 and body["stats"]["delivered"] == 1

    await make_due(sql, doomed)
    await run(reminder_settings())
    assert telegram.chats()[7] == 1  # a failed reminder is not tried again


async def test_a_server_error_backs_off_and_fails_at_the_cap(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    telegram.answer = lambda chat, index: error_answer(500, "Internal Server Error")
    settings = reminder_settings(delivery_max_attempts=3)
    reminder = await add_reminder(sql, telegram_id=9)

    body = await run(settings)
    record = await row(sql, reminder)
    assert (record["status"], record["attempts"]) == ("pending", 1)
    assert record["last_error"] == "HTTP 500: Internal Server Error"
    # Backoff for the first retry: 30 s step, equal jitter, so 15-30 s.
    assert 15 - 2 <= record["due_in"] <= 30
    assert body["stats"]["retrying"] == 1

    await make_due(sql, reminder)
    await run(settings)
    record = await row(sql, reminder)
    assert (record["status"], record["attempts"]) == ("pending", 2)
    assert 30 - 2 <= record["due_in"] <= 60  # the step doubles

    await make_due(sql, reminder)
    body = await run(settings)
    record = await row(sql, reminder)
    assert (record["status"], record["attempts"]) == ("failed", 3)
    assert body["stats"]["failed"] == 1

    await make_due(sql, reminder)
    await run(settings)
    assert len(telegram.calls) == 3


async def test_a_network_error_or_timeout_is_transient(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        chat = json.loads(request.content)["chat_id"]
        if chat == 1:
            raise httpx.ConnectError("connection refused")
        raise httpx.ReadTimeout("timed out")

    http_mock.post(url__startswith=f"{API}/bot").mock(side_effect=fail)
    refused, slow = await add_reminder(sql, telegram_id=1), await add_reminder(sql, telegram_id=2)

    await run(reminder_settings())

    for reminder, error in ((refused, "network error: ConnectError"), (slow, "did not answer")):
        record = await row(sql, reminder)
        assert (record["status"], record["attempts"]) == ("pending", 1)
        assert error in record["last_error"]
        assert record["due_in"] > 10


async def test_a_429_pauses_all_sending_for_retry_after_and_loses_nothing(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    telegram.answer = lambda chat, index: (
        error_answer(429, "Too Many Requests: retry after 1", retry_after=1) if index == 0 else ok_answer(chat, index)
    )
    ids = [await add_reminder(sql, telegram_id=chat, due_in=-60 + chat) for chat in (1, 2, 3, 4)]

    body = await run(reminder_settings(telegram_max_per_second=10))

    assert body["status"] == "ok"
    assert body["stats"]["rate_limited"] == 1 and body["stats"]["delivered"] == 4
    first_at, first_chat = telegram.calls[0][0], telegram.calls[0][1]
    assert first_chat == 1  # oldest first
    # Nothing at all was sent while Telegram asked us to wait.
    assert all(at >= first_at + 1.0 for at, *_ in telegram.calls[1:])
    assert telegram.chats() == Counter({1: 2, 2: 1, 3: 1, 4: 1})
    for reminder in ids:
        record = await row(sql, reminder)
        assert (record["status"], record["attempts"], record["last_error"]) == ("sent", 0, None)


async def test_a_429_longer_than_the_budget_is_retried_after_retry_after(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    telegram.answer = lambda chat, index: error_answer(429, "Too Many Requests: retry after 30", retry_after=30)
    limited = await add_reminder(sql, telegram_id=1, due_in=-120)
    others = [await add_reminder(sql, telegram_id=chat) for chat in (2, 3)]

    body = await run(reminder_settings(run_time_budget_seconds=5, telegram_max_per_second=10))

    assert (body["status"], body["has_more"]) == ("partial", True)
    assert len(telegram.calls) == 1
    record = await row(sql, limited)
    assert (record["status"], record["attempts"]) == ("pending", 1)
    assert "429" in record["last_error"]
    assert 28 <= record["due_in"] <= 30
    for reminder in others:
        assert_released(await row(sql, reminder))


# -- pace, overlap, crashes, deadlines -------------------------------------------------------


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window [t, t + 1)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times))


async def test_pace_at_most_the_limit_in_any_second_and_one_per_second_per_chat(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection
) -> None:
    chats = [*range(100, 140), *[chat for chat in range(200, 210) for _ in range(3)]]  # 70 sends, 10 chats thrice
    for chat in chats:
        await add_reminder(sql, telegram_id=chat)

    with FakeTelegram(latency=0.02) as fake:
        body = await run(reminder_settings(telegram_api_base=fake.url, telegram_max_per_second=25))
        calls: list[Call] = fake.snapshot()

    assert body["stats"]["delivered"] == len(chats)
    assert Counter(call.chat_id for call in calls) == Counter(chats)
    assert busiest_second([call.at for call in calls]) <= 25
    by_chat: dict[int, list[float]] = {}
    for call in calls:
        by_chat.setdefault(call.chat_id, []).append(call.at)
    for times in by_chat.values():
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


async def test_three_overlapping_sweeps_deliver_each_reminder_exactly_once(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    await sql.execute(
        "insert into public.scheduled_reminders (telegram_id, due_at, draft_text) "
        "select g, now() - interval '1 minute', 'hello ' || g from generate_series(1, 300) g"
    )
    settings = reminder_settings(telegram_max_per_second=10_000)
    database = database_for(settings)

    results = await asyncio.gather(*(reminders(context(database, settings, run_id=i)) for i in (1, 2, 3)))

    assert telegram.chats() == Counter(range(1, 301))
    assert sum(result.stats["delivered"] for result in results) == 300
    counts = await sql.fetch("select status, reminder_count, count(*) from public.scheduled_reminders group by 1, 2")
    assert [tuple(r) for r in counts] == [("sent", 1, 300)]


async def test_a_crashed_batch_is_delivered_after_its_lease_and_a_late_settle_changes_nothing(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    ids = [await add_reminder(sql, telegram_id=chat) for chat in (1, 2, 3)]
    # A run claims the batch, then dies before settling it.
    crashed = await db.call("claim_due_reminders", p_batch_size=100, p_lease_seconds=120)
    assert sorted(r["id"] for r in crashed) == ids

    body = await run(reminder_settings())
    assert body["stats"]["claimed"] == 0 and telegram.calls == []  # the lease still holds them

    await sql.execute("update public.scheduled_reminders set locked_until = now() - interval '1 second'")
    body = await run(reminder_settings())
    assert body["stats"]["delivered"] == 3
    assert telegram.chats() == Counter({1: 1, 2: 1, 3: 1})
    before = [dict(await row(sql, reminder)) for reminder in ids]

    # The crashed run wakes up and settles under its old token.
    late = [{"id": r["id"], "claim_token": r["claim_token"], "outcome": "delivered"} for r in crashed]
    late += [{"id": r["id"], "claim_token": r["claim_token"], "outcome": "permanent", "error": "x"} for r in crashed]
    settled = await db.call("settle_reminders", p_outcomes=late, p_repeat_hours=24, p_max_count=3, p_max_attempts=5)
    assert settled == []
    after = [dict(await row(sql, reminder)) for reminder in ids]
    for old, new in zip(before, after, strict=True):
        old.pop("due_in"), new.pop("due_in")
        assert old == new


async def test_a_tiny_budget_ends_partial_and_releases_what_it_did_not_send(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    ids = [await add_reminder(sql, telegram_id=chat, due_in=-600 + chat) for chat in range(1, 31)]
    due_before = {r["id"]: r["due_at"] for r in await sql.fetch("select id, due_at from public.scheduled_reminders")}

    body = await run(reminder_settings(run_time_budget_seconds=2, telegram_max_per_second=10))

    assert (body["status"], body["has_more"]) == ("partial", True)
    sent = body["stats"]["delivered"]
    assert 0 < sent < 30
    assert body["stats"]["released"] == 30 - sent
    records = [await row(sql, reminder) for reminder in ids]
    released = [r for r in records if r["status"] == "pending"]
    assert len(released) == 30 - sent
    for record in released:
        assert_released(record)
        assert record["due_at"] == due_before[record["id"]]
    # Oldest first: what went out is the head of the queue.
    assert [r["telegram_id"] for r in records if r["status"] == "sent"] == list(range(1, sent + 1))

    body = await run(reminder_settings())
    assert body["status"] == "ok" and body["stats"]["delivered"] == 30 - sent
    assert telegram.chats() == Counter(range(1, 31))


async def test_garbage_rows_get_a_clear_last_error_and_the_rest_of_the_batch_goes(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    no_chat = await add_reminder(sql, telegram_id=None)
    too_long = await add_reminder(sql, telegram_id=2, draft_text="x" * 5000)
    empty = await add_reminder(sql, telegram_id=3, draft_text="   ")
    fine = [await add_reminder(sql, telegram_id=chat) for chat in (4, 5, 6)]

    body = await run(reminder_settings())

    assert body["stats"]["delivered"] == 5 and body["stats"]["failed"] == 1
    record = await row(sql, no_chat)
    assert record["status"] == "failed"
    assert record["last_error"] == "telegram_id is null: no chat to send to"

    texts = {chat: text for _, chat, text, _ in telegram.calls}
    assert len(texts[2]) == 4096 and texts[2].endswith("…")
    record = await row(sql, too_long)
    assert record["status"] == "sent"
    assert "5000 characters, over Telegram's 4096" in record["last_error"]
    assert texts[3] == DEFAULT_TEXT
    assert (await row(sql, empty))["last_error"] is None
    for reminder in fine:
        assert (await row(sql, reminder))["status"] == "sent"


# -- configuration, secrets, dry runs --------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not a token/../x"])
async def test_without_a_usable_bot_token_the_route_answers_503_and_claims_nothing(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    token: str | None,
) -> None:
    reminder = await add_reminder(sql)
    settings = reminder_settings(telegram_bot_token=token)

    async with app_client(settings) as http:
        response = await http.post("/api/cron/reminders", headers=AUTH)

    assert response.status_code == 503
    assert "TELEGRAM_BOT_TOKEN" in response.json()["error"]
    assert_released(await row(sql, reminder))
    assert await sql.fetchval("select count(*) from public.cron_runs") == 0
    assert telegram.calls == []


async def test_the_token_never_reaches_logs_stored_errors_or_answers(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    http_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        chat = json.loads(request.content)["chat_id"]
        if chat == 1:  # a proxy that echoes the URL in its error
            return httpx.Response(502, json={"ok": False, "description": f"upstream failed for {request.url}"})
        if chat == 2:
            raise httpx.ConnectError(f"could not reach {request.url}")
        return httpx.Response(200, json={"ok": True, "result": {}})

    http_mock.post(url__startswith=f"{API}/bot").mock(side_effect=answer)
    ids = [await add_reminder(sql, telegram_id=chat) for chat in (1, 2, 3)]
    caplog.set_level(logging.DEBUG)

    async with app_client(reminder_settings()) as http:
        response = await http.get("/api/cron/reminders", headers=AUTH)

    errors = [(await row(sql, reminder))["last_error"] for reminder in ids]
    assert "<redacted>" in errors[0] and "ConnectError" in errors[1]
    secret_part = TOKEN.split(":")[1]
    for text in (*[e or "" for e in errors], response.text, caplog.text, *capsys.readouterr()):
        assert secret_part not in text
    assert "HTTP Request" in caplog.text  # httpx did log the request, redacted


async def test_a_rejected_token_fails_the_run_and_releases_the_batch(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    telegram.answer = lambda chat, index: error_answer(401, "Unauthorized")
    ids = [await add_reminder(sql, telegram_id=chat) for chat in (1, 2, 3)]

    async with app_client(reminder_settings(telegram_max_per_second=2)) as http:
        response = await http.get("/api/cron/reminders", headers=AUTH)

    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error"
    assert "HTTP 401" in body["error"] and "TELEGRAM_BOT_TOKEN" in body["error"]
    assert TOKEN not in response.text
    assert len(telegram.calls) == 1  # it stopped at the first refusal
    for reminder in ids:
        assert_released(await row(sql, reminder))


async def test_dry_run_reports_what_is_due_and_sends_nothing(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    due = [
        await add_reminder(sql, telegram_id=1),
        await add_reminder(sql, telegram_id=None),
        await add_reminder(sql, telegram_id=3),
    ]
    await add_reminder(sql, telegram_id=4, due_in=3600)

    body = await run(reminder_settings(), dry_run="true")

    assert body["dry_run"] is True
    stats = body["stats"]
    assert (stats["due"], stats["would_send"], stats["would_fail"]) == (3, 2, 1)
    assert stats["reminders"] == due
    assert telegram.calls == []
    for reminder in due:
        assert_released(await row(sql, reminder))

    limited = await run(reminder_settings(), dry_run="true", limit=2)
    assert (limited["stats"]["due"], limited["has_more"], limited["status"]) == (2, True, "partial")


async def test_limit_caps_the_reminders_one_run_handles(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    for chat in range(1, 8):
        await add_reminder(sql, telegram_id=chat)

    body = await run(reminder_settings(reminder_batch_size=3), limit=5)

    assert (body["stats"]["delivered"], body["has_more"], body["status"]) == (5, True, "partial")
    assert len(telegram.calls) == 5


async def test_limit_above_the_cap_is_refused(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection
) -> None:
    async with app_client(reminder_settings()) as http:
        response = await http.get("/api/cron/reminders", headers=AUTH, params={"limit": 10_000_000})
    assert response.status_code == 422


def test_vercel_runs_the_sweep_every_minute() -> None:
    assert ("reminders", "* * * * *") in vercel_crons()


# -- quiet hours ---------------------------------------------------------------------------


def _window(start: datetime, hours: int) -> str:
    end = start + timedelta(hours=hours)
    return f"{start:%H:%M}-{end:%H:%M}"


async def test_outside_active_hours_a_due_reminder_is_deferred_to_the_window_start(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    reminder = await add_reminder(sql, telegram_id=1, attempts=1)

    body = await run(reminder_settings(reminder_active_hours=_window(opens, 3), reminder_timezone="UTC"))

    assert body["stats"]["deferred"] == 1 and body["stats"]["delivered"] == 0
    assert telegram.calls == []
    record = await row(sql, reminder)
    assert record["due_at"] == opens
    assert (record["status"], record["attempts"]) == ("pending", 1)  # no attempt counted
    assert record["claim_token"] is None and record["locked_until"] is None

    dry = await run(reminder_settings(reminder_active_hours=_window(opens, 3)), dry_run="true")
    assert dry["stats"]["due"] == 0


async def test_inside_active_hours_reminders_go(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    opened = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    reminder = await add_reminder(sql, telegram_id=1)

    await run(reminder_settings(reminder_active_hours=_window(opened, 3), reminder_timezone="Etc/GMT"))

    assert (await row(sql, reminder))["status"] == "sent"


# -- the bot's write paths, and round trips --------------------------------------------------


async def test_snooze_complete_and_cancel(db: Database, sql: asyncpg.Connection) -> None:
    sent = await add_reminder(sql, status="sent", reminder_count=1, attempts=2, lead_id="lead-a")
    until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    [snoozed] = await db.call("snooze_reminder", id=sent, until=until)
    assert (snoozed["status"], snoozed["snooze_count"]) == ("pending", 1)
    assert datetime.fromisoformat(snoozed["due_at"]) == until
    record = await row(sql, sent)
    assert (record["status"], record["due_at"], record["attempts"]) == ("pending", until, 0)

    [done] = await db.call("complete_reminder", id=sent)
    assert done["status"] == "completed" and done["completed_at"] is not None
    # Neither a snooze nor a second completion revives or changes a completed reminder.
    assert await db.call("snooze_reminder", id=sent, until=until) == []
    assert await db.call("complete_reminder", id=sent) == []
    assert (await row(sql, sent))["status"] == "completed"

    lead_a = [await add_reminder(sql, lead_id="lead-a"), await add_reminder(sql, lead_id="lead-a", status="sent")]
    other = await add_reminder(sql, lead_id="lead-b")
    cancelled = await db.call("cancel_reminders_for_lead", lead_id="lead-a")
    assert sorted(r["id"] for r in cancelled) == lead_a
    assert {(await row(sql, r))["status"] for r in lead_a} == {"cancelled"}
    assert (await row(sql, sent))["status"] == "completed"
    assert (await row(sql, other))["status"] == "pending"


@pytest.mark.parametrize("write", ["complete", "snooze", "cancel"])
async def test_a_write_by_the_bot_during_a_send_wins_over_the_settle(
    db: Database, sql: asyncpg.Connection, write: str
) -> None:
    reminder = await add_reminder(sql, lead_id="lead-z")
    [claimed] = await db.call("claim_due_reminders", p_batch_size=10, p_lease_seconds=120)
    if write == "complete":
        await db.call("complete_reminder", id=reminder)
    elif write == "snooze":
        await db.call("snooze_reminder", id=reminder, until=datetime.now(UTC) + timedelta(hours=1))
    else:
        await db.call("cancel_reminders_for_lead", lead_id="lead-z")
    before = dict(await row(sql, reminder))

    outcome = {"id": reminder, "claim_token": claimed["claim_token"], "outcome": "delivered"}
    settled = await db.call(
        "settle_reminders", p_outcomes=[outcome], p_repeat_hours=24, p_max_count=3, p_max_attempts=5
    )

    assert settled == []
    after = dict(await row(sql, reminder))
    before.pop("due_in"), after.pop("due_in")
    assert after == before


async def test_settle_refuses_an_unknown_outcome(db: Database, sql: asyncpg.Connection) -> None:
    from lib.db import DatabaseError

    with pytest.raises(DatabaseError, match="unknown outcome"):
        await db.call(
            "settle_reminders",
            p_outcomes=[{"id": 1, "claim_token": None, "outcome": "sent"}],
            p_repeat_hours=24,
            p_max_count=3,
            p_max_attempts=5,
        )


async def test_a_batch_of_100_costs_at_most_two_round_trips(
    reminder_settings: Callable[..., Settings], db: Database, sql: asyncpg.Connection, telegram: RespxTelegram
) -> None:
    await sql.execute(
        "insert into public.scheduled_reminders (telegram_id, due_at) "
        "select g, now() - interval '1 minute' from generate_series(1, 250) g"
    )
    settings = reminder_settings(telegram_max_per_second=10_000, reminder_batch_size=100)
    counting = CountingDatabase(database_for(settings))

    result = await reminders(context(counting, settings))

    assert result.stats["delivered"] == 250 and result.stats["batches"] == 3
    # Outcomes are settled in groups by time, not per row nor per batch: a
    # fast run writes all 250 in one or two calls (never more than one per batch).
    assert counting.calls["claim_due_reminders"] == 3
    assert 1 <= counting.calls["settle_reminders"] <= 3
    assert sum(counting.calls.values()) / result.stats["batches"] <= 2
