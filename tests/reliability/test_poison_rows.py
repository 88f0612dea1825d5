"""Rows a sweep cannot handle fail on their own and never stall the rest.

Rows are written straight into the tables, the way another app or the
Supabase table editor would, with values Postgres accepts and Python does not
(`-infinity`, BC dates, years past 9999) or that no call can use. Every test
runs through both adapters; Telegram and webhook receivers are respx routes.
The last one draws such rows with hypothesis (texts, ids, timestamps,
payloads, schedule strings, timezones) and checks that good rows sharing
their batches still go out and nothing is left leased.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
import respx
from hypothesis import strategies as st

from lib.db import Database
from lib.outbound.telegram import MAX_RETRY_AFTER_SECONDS
from lib.settings import Settings
from tests.conftest import AUTH, TABLES, app_client
from tests.factories import HOOK, add_job, add_reminder, add_requests
from tests.fakes.telegram import API, TOKEN, RespxTelegram, error_answer, ok_answer
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route
from tests.reliability.counts import Counts, size
from tests.reliability.test_fuzz import draw

# Bad values sort first: the claim takes oldest first, so each is at the head of every batch.
POISON_DUE = {
    "-infinity": "-infinity",
    "BC": "0044-03-15 12:00:00+00 BC",
}
# Never due, so never claimed; a sweep must still not trip over them.
FUTURE_ODDITIES = ("infinity", "9999-12-31 23:59:59+00", "20000-01-01 00:00+00")


@pytest.fixture
def telegram(http_mock: respx.MockRouter) -> RespxTelegram:
    fake = RespxTelegram()
    http_mock.post(url__startswith=f"{API}/bot").mock(side_effect=fake)
    return fake


@pytest.fixture
def reminder_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_base": API,
            "telegram_max_per_second": 1000,
        }
        return make_settings(**{**values, **overrides})

    return make


async def leased(sql: asyncpg.Connection) -> int:
    return int(
        await sql.fetchval(
            "select count(*) from public.scheduled_reminders where claim_token is not null or locked_until is not null"
        )
    )


async def sweep(settings: Settings) -> dict[str, Any]:
    async with app_client(settings) as http:
        response = await http.get("/api/cron/reminders", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- reminders --------------------------------------------------------------------------------


async def test_infinite_and_bc_due_dates_fail_alone_and_the_batch_goes_on(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    counts: Counts,
) -> None:
    poison = {
        name: await add_reminder(sql, due_at=due, draft_text="hi", telegram_id=900 + i)
        for i, (name, due) in enumerate(POISON_DUE.items())
    }
    future = [
        await add_reminder(sql, due_at=due, draft_text="hi", telegram_id=950 + i)
        for i, due in enumerate(FUTURE_ODDITIES)
    ]
    for chat in (1, 2, 3):
        await add_reminder(sql, due_in=-60, draft_text="hi", telegram_id=chat)
    # Odd but readable rows go through the normal path: Telegram refuses chat 0,
    # an over-long emoji draft is cut, control characters are sent as they are.
    telegram.answer = lambda chat, index: (
        error_answer(400, "Bad Request: chat not found") if chat == 0 else ok_answer(chat, index)
    )
    no_such_chat = await add_reminder(sql, due_in=-60, draft_text="hi", telegram_id=0)
    await add_reminder(sql, due_in=-60, telegram_id=11, draft_text="🙂" * 3000)
    await add_reminder(sql, due_in=-60, telegram_id=12, draft_text="\x01\x7f\u202e rtl")
    # A batch of three holds both bad rows and one good one: the bad ones must not stall it.
    settings = reminder_settings(reminder_batch_size=3)
    async with app_client(settings) as http:
        dry = (await http.get("/api/cron/reminders", headers=AUTH, params={"dry_run": "true"})).json()
    # The dry run says what the real run will do with them.
    assert (dry["stats"]["due"], dry["stats"]["would_fail"], dry["stats"]["would_send"]) == (8, 2, 6)

    body = await sweep(settings)

    assert body["status"] == "partial"  # three failed, five delivered
    assert body["stats"]["delivered"] == 5 and body["stats"]["failed"] == 3
    assert telegram.chats() == Counter({0: 1, 1: 1, 2: 1, 3: 1, 11: 1, 12: 1})
    texts = {chat: text for _, chat, text, _ in telegram.calls}
    assert len(texts[11].encode("utf-16-le")) // 2 <= 4096
    assert await sql.fetchval("select status from public.scheduled_reminders where id = $1", no_such_chat) == "failed"
    for name, reminder in poison.items():
        # asyncpg cannot decode these due_at values either: read only what the test needs.
        record = await sql.fetchrow("select status, last_error from public.scheduled_reminders where id = $1", reminder)
        assert record is not None
        assert record["status"] == "failed"
        assert record["last_error"].startswith("cannot be handled: due_at")
        assert name in record["last_error"]
    for reminder in future:
        status = await sql.fetchval("select status from public.scheduled_reminders where id = $1", reminder)
        assert status == "pending"
    assert await sql.fetchval("select count(*) from public.scheduled_reminders where status = 'sent'") == 5
    assert await leased(sql) == 0

    # The next run is not stuck behind them: a new due reminder goes out, the bad ones stay failed.
    fresh = await add_reminder(sql, due_in=-1, draft_text="hi", telegram_id=4)
    body = await sweep(settings)
    assert body["status"] == "ok" and body["stats"]["delivered"] == 1
    assert telegram.chats() == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 11: 1, 12: 1})
    assert await sql.fetchval("select status from public.scheduled_reminders where id = $1", fresh) == "sent"
    assert await leased(sql) == 0
    counts.handled = int(await sql.fetchval("select count(*) from public.scheduled_reminders"))
    counts.repeated = sum(n - 1 for n in telegram.chats().values())
    counts.stuck = await leased(sql)


async def test_settle_clamps_absurd_delays_instead_of_failing_the_group(
    db: Database, sql: asyncpg.Connection, counts: Counts
) -> None:
    delayed, infinite, fine = [await add_reminder(sql, due_in=-60, draft_text="hi", telegram_id=c) for c in (1, 2, 3)]
    await sql.execute("update public.scheduled_reminders set due_at = '-infinity' where id = $1", infinite)
    claimed = await db.call("claim_due_reminders", p_batch_size=10, p_lease_seconds=60)
    token = {row["id"]: row["claim_token"] for row in claimed}
    outcomes = [
        {"id": delayed, "claim_token": token[delayed], "outcome": "transient", "error": "429", "delay_seconds": 1e13},
        {"id": infinite, "claim_token": token[infinite], "outcome": "transient", "error": "x", "delay_seconds": 5},
        {"id": fine, "claim_token": token[fine], "outcome": "delivered"},
    ]

    settled = await db.call(
        "settle_reminders", p_outcomes=outcomes, p_repeat_hours=1e13, p_max_count=3, p_max_attempts=5
    )

    assert sorted(row["id"] for row in settled) == sorted([delayed, infinite, fine])
    rows = await sql.fetch(
        "select id, status, extract(epoch from due_at - now())::float8 as due_in from public.scheduled_reminders"
    )
    due_in = {row["id"]: row["due_in"] for row in rows}
    assert 86400 - 60 < due_in[delayed] <= 86400  # clamped to a day
    assert 0 < due_in[infinite] <= 5  # an infinite due_at does not poison the new one
    assert 0 < due_in[fine] <= 87600 * 3600  # the repeat is clamped too
    assert await leased(sql) == 0
    counts.handled = len(settled)


async def test_a_429_with_an_absurd_retry_after_settles_and_repeats_nothing(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    counts: Counts,
) -> None:
    # Chats 1-3 are delivered; chat 4, the newest, gets a 429 asking for 1e13 seconds.
    telegram.answer = lambda chat, index: (
        error_answer(429, "Too Many Requests", retry_after=1e13) if chat == 4 else ok_answer(chat, index)
    )
    ids = {
        chat: await add_reminder(sql, due_in=-(10 - chat) * 60, draft_text="hi", telegram_id=chat)
        for chat in (1, 2, 3, 4)
    }
    settings = reminder_settings(telegram_max_per_second=100, run_time_budget_seconds=5)

    body = await sweep(settings)

    assert body["stats"]["delivered"] == 3 and body["stats"]["rate_limited"] == 1
    limited = await sql.fetchrow(
        "select status, attempts, last_error, extract(epoch from due_at - now())::float8 as due_in "
        "from public.scheduled_reminders where id = $1",
        ids[4],
    )
    assert limited is not None
    assert (limited["status"], limited["attempts"]) == ("pending", 1)
    assert "429" in limited["last_error"]
    assert MAX_RETRY_AFTER_SECONDS - 60 < limited["due_in"] <= MAX_RETRY_AFTER_SECONDS
    assert await leased(sql) == 0

    # Even with every lease gone, nothing delivered goes out again.
    await sql.execute("update public.scheduled_reminders set locked_until = now() - interval '1 second'")
    await sweep(settings)
    assert telegram.chats() == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    counts.handled = len(ids)
    # (the test itself expired the leases above; a claim left behind is what would be stuck)
    counts.stuck = int(
        await sql.fetchval("select count(*) from public.scheduled_reminders where claim_token is not null")
    )


async def test_counters_at_the_integer_limit_saturate_instead_of_failing_the_settle(
    reminder_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    counts: Counts,
) -> None:
    # Another app wrote counters at the int limit; a +1 in the settle used to overflow
    # and fail the whole group, good rows included (a 500, and repeats after the lease).
    telegram.answer = lambda chat, index: (
        error_answer(500, "Internal Server Error") if chat == 2 else ok_answer(chat, index)
    )
    top = 2**31 - 1
    delivered = await add_reminder(sql, due_in=-90, telegram_id=1, reminder_count=top)
    retried = await add_reminder(sql, due_in=-80, telegram_id=2, attempts=top)
    good = [await add_reminder(sql, due_in=-70 + i, telegram_id=10 + i) for i in range(3)]

    body = await sweep(reminder_settings(reminder_batch_size=5, reminder_max_count=3))

    assert body["stats"]["delivered"] == 4 and body["stats"]["failed"] == 1, body
    rows = {r["id"]: r for r in await sql.fetch("select id, status, attempts, reminder_count from scheduled_reminders")}
    assert (rows[delivered]["status"], rows[delivered]["reminder_count"]) == ("exhausted", top)
    assert (rows[retried]["status"], rows[retried]["attempts"]) == ("failed", top)
    assert all(rows[i]["status"] == "sent" for i in good)
    counts.handled = len(rows)
    counts.repeated = sum(n - 1 for n in telegram.chats().values())
    counts.stuck = await leased(sql)


# -- run requests -----------------------------------------------------------------------------


async def test_requests_with_unusable_jobs_or_payloads_error_at_once_and_the_rest_run(
    db: Database,
    sql: asyncpg.Connection,
    make_settings: Callable[..., Settings],
    http_mock: respx.MockRouter,
    counts: Counts,
) -> None:
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET)
    hook = hook_route(http_mock, return_value=httpx.Response(200, json={"ok": True}))
    bad_targets = {
        "null target": None,
        "blank target": "   ",
        "not a url": "not a url",
        "bad punycode": "https://xn--/hook",
        "bad idna": "https://exämple..com/hook",
        "control character": "https://hooks.example.test/\x01",
        "port out of range": "https://hooks.example.test:99999/hook",
    }
    expected: dict[str, str] = {}
    for name, target in bad_targets.items():
        [request] = await add_requests(sql, await add_job(sql, name, target=target))
        expected[request] = "webhook"
    [garbage_builtin] = await add_requests(
        sql, await add_job(sql, "garbage builtin", kind="builtin", target="../../etc")
    )
    expected[garbage_builtin] = "unknown builtin job"
    odd_payload_job = await add_job(sql, "odd payloads")
    for payload in ([1, 2], "text", 42, True):
        [request] = await add_requests(sql, odd_payload_job, payload=payload)
        expected[request] = "payload must be a JSON object"
    good = await add_requests(sql, await add_job(sql, "good"), 3, payload={"deep": [{"x": "\u202e"}] * 50})

    async with app_client(settings) as http:
        response = await http.get("/api/cron/run-requests", headers=AUTH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stats"]["done"] == 3 and body["stats"]["error"] == len(expected)
    rows = {
        str(row["id"]): row for row in await sql.fetch("select id, status, result, claim_token from cron_run_requests")
    }
    for request, fragment in expected.items():
        row = rows[request]
        assert row["status"] == "error", row
        error = json.loads(row["result"])["error"]
        assert fragment in error
    for request in good:
        assert rows[request]["status"] == "done"
    assert all(row["claim_token"] is None for row in rows.values())
    assert hook.call_count == 3  # nothing was sent to a target that can never work
    counts.handled = len(rows)
    counts.stuck = sum(row["claim_token"] is not None for row in rows.values())


# -- fuzzed rows: whatever another app writes, the batch goes on ---------------------------------

# Postgres text holds no NUL, and UTF-8 no lone surrogate: anything else goes.
TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=60)
TIMESTAMPS = st.sampled_from(
    [
        "-infinity",
        "infinity",
        "0044-03-15 12:00:00+00 BC",
        "4713-01-01 00:00:00+00 BC",
        "0001-01-01 00:00:00+00",
        "1970-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "20000-01-01 00:00:00+00",
        "294276-12-31 23:59:59+00",
    ]
)
BIGINT = st.integers(-(2**63), 2**63 - 1)
REMINDER_COLUMNS = ("telegram_id", "draft_text", "due_at", "lead_id", "step_id", "status", "attempts", "reminder_count")
REMINDER = st.fixed_dictionaries(
    {
        "telegram_id": st.one_of(st.none(), st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), BIGINT),
        "draft_text": st.one_of(st.none(), TEXT, st.integers(4000, 9000).map(lambda n: "🙂" * n)),
        "due_at": st.one_of(TIMESTAMPS, st.just(None)),  # None: due a minute ago
        "lead_id": st.one_of(st.none(), TEXT),
        "step_id": st.one_of(st.none(), TEXT),
        "status": st.sampled_from(["pending", "sent", "failed", "exhausted", "completed"]),
        "attempts": st.sampled_from([0, -1, 4, 1_000_000, 2**31 - 1]),
        "reminder_count": st.sampled_from([0, -5, 2, 2**31 - 1]),
    }
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), BIGINT, st.floats(allow_nan=False, allow_infinity=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
REQUEST = st.fixed_dictionaries(
    {
        "payload": st.one_of(st.none(), JSON),
        "target": st.one_of(st.sampled_from([HOOK, "", "https://", "http://example.com/x", "ftp://x/y"]), TEXT),
        "kind": st.sampled_from(["webhook", "builtin"]),
        "max_attempts": st.sampled_from([1, 5, 0, -1, 2**31 - 1]),
    }
)
ODD_SCHEDULES = [
    "0 7 * * *", "@hourly", "every 2h", "in 20m", "3600000ms", "61 * * * *", "0 0 31 2 *", "every 0s",
    "1e400s", "-5m", "2026-13-45T99:00", "", " ", "* * * * * * *", "every 999999999999999999d",
]  # fmt: skip
SCHEDULE = st.fixed_dictionaries(
    {
        "schedule_type": st.sampled_from(["cron", "interval", "once"]),
        "schedule": st.one_of(
            st.sampled_from(ODD_SCHEDULES),
            TEXT,
        ),
        "timezone": st.one_of(st.sampled_from(["UTC", "Europe/Berlin", "Mars/Olympus", "", "../../etc/passwd"]), TEXT),
        "next_run_at": st.one_of(TIMESTAMPS, st.just(None)),  # None: due a minute ago
    }
)
BATCH = st.tuples(st.lists(REMINDER, max_size=6), st.lists(REQUEST, max_size=4), st.lists(SCHEDULE, max_size=3))


Rows = list[dict[str, Any]]


async def _insert_fuzzed(sql: asyncpg.Connection, reminders: Rows, requests: Rows, schedules: Rows) -> None:
    for row in reminders:
        await sql.execute(
            "insert into public.scheduled_reminders"
            " (telegram_id, draft_text, due_at, lead_id, step_id, status, attempts, reminder_count)"
            " values ($1, $2, coalesce($3::text::timestamptz, now() - interval '1 minute'), $4, $5, $6, $7, $8)",
            *(row[name] for name in REMINDER_COLUMNS),
        )
    for index, row in enumerate(requests):
        job = await add_job(sql, f"fuzz-{index}", kind=row["kind"], target=row["target"])
        await sql.execute(
            "insert into public.cron_run_requests (job_id, payload, max_attempts) values ($1::uuid, $2::jsonb, $3)",
            job,
            None if row["payload"] is None else json.dumps(row["payload"]),
            row["max_attempts"],
        )
    for index, row in enumerate(schedules):
        await sql.execute(
            "insert into public.cron_jobs (name, kind, target, schedule_type, schedule, timezone, next_run_at)"
            " values ($1, 'webhook', $2, $3, $4, $5, coalesce($6::text::timestamptz, now() - interval '1 minute'))",
            f"fuzz-schedule-{index}",
            HOOK,
            *(row[name] for name in ("schedule_type", "schedule", "timezone", "next_run_at")),
        )


async def test_fuzzed_rows_never_stall_a_batch(
    make_settings: Callable[..., Settings],
    db: Database,
    sql: asyncpg.Connection,
    telegram: RespxTelegram,
    http_mock: respx.MockRouter,
    counts: Counts,
) -> None:
    hook = hook_route(http_mock, return_value=httpx.Response(200, json={"ok": True}))
    settings = make_settings(
        telegram_bot_token=TOKEN,
        telegram_api_base=API,
        telegram_max_per_second=1000,
        webhook_signing_secret=WEBHOOK_SECRET,
        reminder_batch_size=3,
        run_request_batch_size=3,
    )
    examples = draw(BATCH, size(20, 200))
    async with app_client(settings) as http:
        for reminders, requests, schedules in examples:
            await sql.execute(f"truncate {TABLES} restart identity cascade")
            await _insert_fuzzed(sql, reminders, requests, schedules)
            # The good rows, due after every fuzzed one that is due: each batch of 3 holds bad and good.
            good_job = await add_job(sql, "good-hook")
            good_requests = await add_requests(sql, good_job, 3)
            good_reminders = [await add_reminder(sql, due_in=-1, telegram_id=10**15 + i) for i in range(3)]
            for path in ("/api/cron/schedule", "/api/cron/reminders", "/api/cron/run-requests"):
                response = counts.answer(await http.get(path, headers=AUTH))
                assert response.status_code == 200, (path, response.text, reminders, requests, schedules)
                assert response.json()["status"] in ("ok", "partial"), response.text
            sent = await sql.fetchval(
                "select count(*) from public.scheduled_reminders where id = any($1) and status = 'sent'", good_reminders
            )
            done = await sql.fetchval(
                "select count(*) from public.cron_run_requests where id = any($1::uuid[]) and status = 'done'",
                good_requests,
            )
            counts.handled += len(reminders) + len(requests) + len(schedules) + 6
            counts.lost += (3 - sent) + (3 - done)
            counts.stuck += await leased(sql)
            counts.stuck += int(
                await sql.fetchval(
                    "select count(*) from public.cron_run_requests where claim_token is not null or status = 'running'"
                )
            )
            assert (sent, done) == (3, 3), (reminders, requests, schedules)
    counts.notes.append(f"{len(examples)} batches, {hook.call_count} webhook calls, {len(telegram.calls)} sends")
