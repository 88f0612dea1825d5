"""The two database adapters behave the same, retry what is safe, and survive new event loops."""

from __future__ import annotations

import asyncio

import httpx

from lib.db import Row
from lib.db.postgres import PostgresDatabase
from lib.db.supabase import SupabaseDatabase
from lib.local.cron_runner import fire
from lib.loop_local import peek
from tests.conftest import SECRET, SERVICE_KEY, SUPABASE_URL, app_client


async def test_both_adapters_return_the_same_json_rows(pg_dsn, sql, http_mock):
    from tests.fakes.postgrest import PostgrestEmulator

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
    assert client is not None
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

    async def once() -> list[Row]:
        return await database.call("health_check")

    # A cached pool from the first loop must not leak into the second.
    assert asyncio.run(once())[0]["ok"] is True
    assert asyncio.run(once())[0]["ok"] is True


def test_supabase_adapter_survives_a_new_event_loop():
    import respx

    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)

    clients = []

    async def once() -> list[Row]:
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


# -- classification and retries (PostgREST's status table, gateways, deadlines) --


def test_transient_is_decided_by_sqlstate_and_status_together():
    from lib.db.supabase import is_transient

    for code in ("40001", "40P01", "55P03", "08006", "57P01", "53300"):
        assert is_transient(500 if code.startswith("4") or code == "55P03" else 503, code), code
    for status in (502, 503, 504, 520):
        assert is_transient(status, None), status  # a gateway's message-only body
    for status, code in ((500, "57014"), (409, "23505"), (400, "22023"), (400, "P0001"), (403, "42501"),
                         (404, "PGRST202"), (300, "PGRST203"), (500, "XX000")):  # fmt: skip
        assert not is_transient(status, code), code


def _emulated(pg_dsn, http_mock):
    from tests.fakes.postgrest import PostgrestEmulator

    emulator = PostgrestEmulator(pg_dsn)
    route = http_mock.post(url__startswith=f"{SUPABASE_URL}/rest/v1/rpc/").mock(side_effect=emulator)
    return emulator, route


async def test_supabase_adapter_retries_gateway_bodies_with_only_a_message(pg_dsn, sql, http_mock, monkeypatch):
    from lib.db import supabase as module
    from tests.fakes.postgrest import gateway_error

    monkeypatch.setattr(module, "RETRY_DELAYS", (0.0, 0.0))
    emulator, route = _emulated(pg_dsn, http_mock)
    emulator.fail_next("health_check", gateway_error(503, "upstream connect error"), gateway_error(502, html=True))
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        rows = await database.call("health_check")
    finally:
        await database.close()
        await emulator.close()
    assert rows[0]["ok"] is True
    assert route.call_count == 3


async def test_supabase_adapter_retries_serialization_deadlock_and_lock_timeouts(pg_dsn, sql, http_mock, monkeypatch):
    from lib.db import supabase as module
    from tests.fakes.postgrest import sql_error

    monkeypatch.setattr(module, "RETRY_DELAYS", (0.0, 0.0))
    emulator, route = _emulated(pg_dsn, http_mock)
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        for code in ("40001", "40P01", "55P03", "57P01"):
            emulator.fail_next("health_check", sql_error(code))
            assert (await database.call("health_check"))[0]["ok"] is True
        assert route.call_count == 8
    finally:
        await database.close()
        await emulator.close()


async def test_supabase_adapter_does_not_retry_a_statement_timeout_or_a_missing_function(pg_dsn, sql, http_mock):
    from lib.db import DatabaseError, DatabaseUnavailable
    from tests.fakes.postgrest import sql_error

    emulator, route = _emulated(pg_dsn, http_mock)
    emulator.fail_next("health_check", sql_error("57014", "canceling statement due to statement timeout"))
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        try:
            await database.call("health_check")
        except DatabaseUnavailable:
            raise AssertionError("a statement timeout is not an unreachable database") from None
        except DatabaseError as error:
            assert error.code == "57014" and "statement timeout" in str(error)
        try:
            await database.call("health_check", p_nope=1)
        except DatabaseError as error:
            assert error.code == "PGRST202"
        assert route.call_count == 2
    finally:
        await database.close()
        await emulator.close()


async def test_supabase_adapter_retries_after_a_read_timeout_once_the_call_committed(
    pg_dsn, sql, http_mock, monkeypatch
):
    from lib.db import supabase as module
    from tests.fakes.postgrest import read_timeout_after_commit

    monkeypatch.setattr(module, "RETRY_DELAYS", (0.0, 0.0))
    emulator, _ = _emulated(pg_dsn, http_mock)
    emulator.fail_next("health_check", read_timeout_after_commit())
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        assert (await database.call("health_check"))[0]["ok"] is True
    finally:
        await database.close()
        await emulator.close()
    assert emulator.committed == {"health_check": 2}


async def test_supabase_retries_stop_at_the_runs_deadline(http_mock):
    from lib.db import DatabaseUnavailable
    from lib.deadline import Deadline, deadline_scope

    route = http_mock.post(f"{SUPABASE_URL}/rest/v1/rpc/health_check").mock(
        return_value=httpx.Response(503, json={"message": "upstream connect error"})
    )
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        with deadline_scope(Deadline.after(1.2)):
            try:
                await database.call("health_check")
            except DatabaseUnavailable as error:
                assert "upstream connect error" in str(error)
            else:
                raise AssertionError("no error raised")
        # Too little of the run was left for a second attempt and its pause.
        assert route.call_count == 1
    finally:
        await database.close()


async def test_supabase_attempt_ends_with_the_time_left(http_mock, monkeypatch):
    from lib.db import DatabaseUnavailable
    from lib.db import supabase as module
    from lib.deadline import Deadline, deadline_scope

    monkeypatch.setattr(module, "FIRST_ATTEMPT_FLOOR", 0.1)

    started = []

    async def hang(request):
        started.append(request)
        await asyncio.sleep(60)

    http_mock.post(f"{SUPABASE_URL}/rest/v1/rpc/health_check").mock(side_effect=hang)
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        with deadline_scope(Deadline.after(0.2)):
            try:
                await database.call("health_check")
            except DatabaseUnavailable as error:
                assert "no answer within" in str(error)
            else:
                raise AssertionError("no error raised")
        assert len(started) == 1
    finally:
        await database.close()


async def test_postgres_attempt_ends_with_the_time_left(pg_dsn, sql, monkeypatch):
    from lib.db import DatabaseUnavailable
    from lib.db import postgres as module
    from lib.deadline import Deadline, deadline_scope

    monkeypatch.setattr(module, "FIRST_ATTEMPT_FLOOR", 0.1)
    await sql.execute("begin; lock table public.cron_locks in access exclusive mode")
    database = PostgresDatabase(pg_dsn)
    try:
        with deadline_scope(Deadline.after(0.2)):
            try:
                await database.call("list_runs", p_job="check-stale")
                await database.call("begin_run", p_job="check-stale", p_trigger="manual", p_lease_seconds=60)
            except DatabaseUnavailable as error:
                assert "attempt" in str(error)
            else:
                raise AssertionError("no error raised")
    finally:
        await sql.execute("rollback")
        await database.close()


def test_deadline_scope_keeps_the_earlier_deadline():
    from lib.deadline import Deadline, current_deadline, deadline_scope

    assert current_deadline() is None
    outer, inner = Deadline.after(10), Deadline.after(100)
    with deadline_scope(outer):
        with deadline_scope(inner) as effective:
            assert effective is outer and current_deadline() is outer
        assert current_deadline() is outer
    assert current_deadline() is None
