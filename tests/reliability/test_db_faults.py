"""Dropped database connections, on a real Postgres: retried, never a 500, never a repeated delivery.

The connection is cut the way it is in production (a Supabase restart, a
pooler recycling, a failover): `pg_terminate_backend` from a superuser, while
the app's backend is idle, mid-call, or waiting on a lock.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import respx

from lib.db import DatabaseError, DatabaseUnavailable
from lib.db.postgres import PostgresDatabase
from tests.conftest import AUTH, app_client

SLEEPER = """
create or replace function public.faults_sleep(p_seconds double precision)
returns table (slept double precision, ok boolean) language sql volatile set search_path = '' as $$
  select p_seconds, true from (select pg_sleep(p_seconds)) s
$$;
grant execute on function public.faults_sleep(double precision) to service_role;
"""

TOKEN = "123456:TEST-secret_token-abcdef"
TELEGRAM = "https://telegram.faults.test"


@pytest.fixture
async def sleeper(pg_dsn: str) -> AsyncIterator[None]:
    connection = await asyncpg.connect(pg_dsn)
    await connection.execute(SLEEPER)
    await connection.close()
    yield
    connection = await asyncpg.connect(pg_dsn)
    await connection.execute("drop function if exists public.faults_sleep(double precision)")
    await connection.close()


async def terminate(sql: asyncpg.Connection, where: str) -> int:
    """Terminate every other client backend matching `where`; how many were."""
    killed = await sql.fetchval(
        f"""
        select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()
           and backend_type = 'client backend' and {where}
        """
    )
    return int(killed)


async def wait_for_backend(sql: asyncpg.Connection, where: str) -> None:
    for _ in range(500):
        found = await sql.fetchval(f"select count(*) from pg_stat_activity where pid <> pg_backend_pid() and {where}")
        if found:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no backend matched {where}")


async def test_postgres_call_survives_idle_connections_being_terminated(pg_dsn, sql):
    database = PostgresDatabase(pg_dsn)
    try:
        assert (await database.call("health_check"))[0]["ok"] is True
        assert await terminate(sql, "state = 'idle'") >= 1
        assert (await database.call("health_check"))[0]["ok"] is True
    finally:
        await database.close()


async def test_postgres_call_terminated_mid_call_is_retried(pg_dsn, sql, sleeper):
    database = PostgresDatabase(pg_dsn)
    try:
        call = asyncio.create_task(database.call("faults_sleep", p_seconds=0.3))
        await wait_for_backend(sql, "state = 'active' and query like '%faults_sleep%'")
        assert await terminate(sql, "state = 'active' and query like '%faults_sleep%'") == 1
        rows = await call
        assert rows == [{"slept": 0.3, "ok": True}]
    finally:
        await database.close()


async def test_postgres_database_that_stays_away_is_unavailable_not_an_error(pg_dsn, sql, sleeper):
    database = PostgresDatabase(pg_dsn)
    stop = asyncio.Event()

    async def keep_killing() -> None:
        while not stop.is_set():
            await terminate(sql, "query like '%faults_sleep%' and state = 'active'")
            await asyncio.sleep(0.01)

    killer = asyncio.create_task(keep_killing())
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await database.call("faults_sleep", p_seconds=2.0)
        assert "database unavailable" in str(raised.value)
    finally:
        stop.set()
        await killer
        await database.close()


async def test_postgres_unreachable_server_is_unavailable(sql):
    database = PostgresDatabase("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.call("health_check")
    finally:
        await database.close()


async def test_postgres_sql_error_is_not_retried(db, sql, adapter):
    with pytest.raises(DatabaseError) as raised:
        await db.call("begin_run", p_job="x", p_trigger="manual", p_lease_seconds=0)
    assert not isinstance(raised.value, DatabaseUnavailable)
    assert raised.value.code == "22023"


async def test_backend_terminated_during_begin_run_answers_200_or_503_never_500(settings, db, sql, pg_dsn):
    # Hold a lock begin_run needs, so its backend is caught mid-call, then cut it.
    locker = await asyncpg.connect(pg_dsn)
    try:
        await locker.execute("begin; lock table public.cron_runs in exclusive mode")
        async with app_client(settings) as http:
            request = asyncio.create_task(http.get("/api/cron/check-stale", headers=AUTH))
            await wait_for_backend(sql, "wait_event_type = 'Lock' and query like '%begin_run%'")
            assert await terminate(sql, "wait_event_type = 'Lock' and query like '%begin_run%'") == 1
            await locker.execute("rollback")
            response = await request
    finally:
        await locker.close()
    assert response.status_code in (200, 503), response.text
    if response.status_code == 200:
        assert response.json()["status"] == "ok"
        assert await sql.fetchval("select count(*) from public.cron_runs where job = 'check-stale'") == 1
    else:
        assert response.json()["status"] == "error"


async def test_a_settle_that_loses_its_connection_is_retried_with_no_duplicate_delivery(
    make_settings, db, sql, http_mock: respx.MockRouter, pg_dsn
):
    ids = [
        await sql.fetchval(
            "insert into public.scheduled_reminders (lead_id, telegram_id, due_at, draft_text)"
            " values ($1, $2, now() - interval '1 minute', 'call back') returning id",
            f"lead-{i}",
            1000 + i,
        )
        for i in range(3)
    ]
    locker = await asyncpg.connect(pg_dsn)
    delivered: Counter[int] = Counter()
    locked = asyncio.Event()

    async def telegram(request: httpx.Request) -> httpx.Response:
        chat = json.loads(request.content)["chat_id"]
        delivered[chat] += 1
        if not locked.is_set():
            # From the first send on, writes to the reminders wait: the settle
            # will be caught mid-call and its connection cut.
            locked.set()
            await locker.execute("begin; lock table public.scheduled_reminders in exclusive mode")
        return httpx.Response(200, json={"ok": True, "result": {"message_id": 1, "chat": {"id": chat}}})

    http_mock.post(url__startswith=f"{TELEGRAM}/bot").mock(side_effect=telegram)
    settings = make_settings(telegram_bot_token=TOKEN, telegram_api_base=TELEGRAM, telegram_max_per_second=1000)
    try:
        async with app_client(settings) as http:
            request = asyncio.create_task(http.get("/api/cron/reminders", headers=AUTH))
            await locked.wait()
            await wait_for_backend(sql, "wait_event_type = 'Lock' and query like '%settle_reminders%'")
            assert await terminate(sql, "wait_event_type = 'Lock' and query like '%settle_reminders%'") >= 1
            await locker.execute("rollback")
            response = await request
    finally:
        await locker.close()
    assert response.status_code == 200, response.text
    assert delivered == Counter({1000: 1, 1001: 1, 1002: 1})
    rows = await sql.fetch(
        "select status, reminder_count, locked_until from public.scheduled_reminders where id = any($1)", ids
    )
    assert [(r["status"], r["reminder_count"], r["locked_until"]) for r in rows] == [("sent", 1, None)] * 3
