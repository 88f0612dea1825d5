"""The two database adapters behave the same, retry what is safe, and survive new event loops."""

from __future__ import annotations

import asyncio

import httpx

from lib.cron_runner import fire
from lib.db.postgres import PostgresDatabase
from lib.db.supabase import SupabaseDatabase
from lib.loop_local import peek
from tests.conftest import SECRET, SERVICE_KEY, SUPABASE_URL, app_client


async def test_both_adapters_return_the_same_json_rows(pg_dsn, sql, http_mock):
    from tests.fake_postgrest import PostgrestEmulator

    emulator = PostgrestEmulator(pg_dsn)
    http_mock.post(url__startswith=f"{SUPABASE_URL}/rest/v1/rpc/").mock(side_effect=emulator)
    postgres, supabase = PostgresDatabase(pg_dsn), SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        await postgres.call("begin_run", p_job="check-stale", p_trigger="manual", p_lease_seconds=60)
        via_pg = await postgres.call("list_runs", p_job="check-stale")
        via_rest = await supabase.call("list_runs", p_job="check-stale")
        assert via_pg == via_rest
        assert isinstance(via_pg[0]["started_at"], str)
        assert emulator.calls == {"list_runs": 1}
    finally:
        await postgres.close()
        await supabase.close()
        await emulator.close()


async def test_supabase_adapter_uses_our_http_client_with_explicit_timeouts(http_mock):
    http_mock.post(f"{SUPABASE_URL}/rest/v1/rpc/health_check").mock(
        return_value=httpx.Response(200, json=[{"ok": True, "server_time": "2026-11-23T00:00:00+00:00"}])
    )
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    await database.call("health_check")
    client = peek(f"supabase:{id(database)}")
    http = client.options.httpx_client
    assert http.timeout.read == 30.0 and http.timeout.connect == 5.0
    request = http_mock.calls.last.request
    assert request.headers["apikey"] == SERVICE_KEY
    await database.close()


async def test_supabase_adapter_retries_transient_failures(http_mock):
    route = http_mock.post(f"{SUPABASE_URL}/rest/v1/rpc/health_check").mock(
        side_effect=[
            httpx.ConnectError("reset"),
            httpx.Response(503, json={"code": "PGRST001", "message": "no connection", "details": None, "hint": None}),
            httpx.Response(200, json=[{"ok": True, "server_time": "2026-11-23T00:00:00+00:00"}]),
        ]
    )
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    rows = await database.call("health_check")
    assert rows[0]["ok"] is True
    assert route.call_count == 3
    await database.close()


async def test_supabase_adapter_does_not_retry_a_sql_error(http_mock):
    from lib.db import DatabaseError

    route = http_mock.post(f"{SUPABASE_URL}/rest/v1/rpc/begin_run").mock(
        return_value=httpx.Response(400, json={"code": "22023", "message": "bad lease", "details": None, "hint": None})
    )
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        await database.call("begin_run", p_job="x", p_trigger="manual", p_lease_seconds=0)
    except DatabaseError as error:
        assert error.code == "22023" and "bad lease" in str(error)
    else:
        raise AssertionError("no error raised")
    assert route.call_count == 1
    await database.close()


def test_adapters_survive_a_new_event_loop(pg_dsn):
    database = PostgresDatabase(pg_dsn)

    async def once() -> list:
        return await database.call("health_check")

    # A cached pool from the first loop must not leak into the second.
    assert asyncio.run(once())[0]["ok"] is True
    assert asyncio.run(once())[0]["ok"] is True


def test_supabase_adapter_survives_a_new_event_loop():
    import respx

    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)

    clients = []

    async def once() -> list:
        rows = await database.call("health_check")
        rows_again = await database.call("health_check")
        clients.append(peek(f"supabase:{id(database)}"))
        assert rows == rows_again
        return rows

    with respx.mock() as router:
        route = router.post(f"{SUPABASE_URL}/rest/v1/rpc/health_check").mock(
            return_value=httpx.Response(200, json=[{"ok": True, "server_time": "2026-11-23T00:00:00+00:00"}])
        )
        assert asyncio.run(once())[0]["ok"] is True
        assert asyncio.run(once())[0]["ok"] is True
    assert route.call_count == 4
    # Reused within a loop, never carried into the next one (where it would
    # fail with "Event loop is closed").
    assert clients[0] is not None and clients[1] is not None
    assert clients[0] is not clients[1]


async def test_local_cron_runner_calls_like_vercel(settings, db, sql):
    async with app_client(settings) as http:
        status = await fire(http, "", SECRET, "/api/cron/check-stale", "*/5 * * * *")
    assert status == 200
    assert await sql.fetchval("select trigger from cron_runs") == "vercel-cron"
