"""The postgres adapter (psycopg): one round trip per call, PostgREST's argument semantics, clean timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import psycopg
import pytest

from lib.db import DatabaseError, DatabaseUnavailable
from lib.db.postgres import JSON_ARGUMENTS, PostgresDatabase
from lib.deadline import Deadline, deadline_scope
from tests.fakes.wire import counting_proxy

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("health_check", {}),
    ("list_runs", {"p_job": "check-stale"}),
    ("begin_run", {"p_job": "check-stale", "p_trigger": "manual", "p_lease_seconds": 60}),
    ("claim_run_requests", {"p_batch_size": 20, "p_lease_seconds": 120}),
    ("settle_run_requests", {"p_outcomes": []}),
]


async def test_each_call_after_the_first_is_one_client_flight(pg_dsn, sql):
    async with counting_proxy(pg_dsn) as wire:
        database = PostgresDatabase(wire.dsn)
        try:
            await database.call("health_check")  # connects: the start-up exchange is not a call's
            flights = {}
            for function, args in CALLS:
                mark = wire.mark()
                await database.call(function, **args)
                flights[function] = wire.client_flights(mark)
        finally:
            await database.close()
    assert flights == {function: 1 for function, _ in CALLS}


async def test_the_flight_count_sees_a_second_round_trip(pg_dsn, sql):
    # The same count on a client that waits in between: psycopg outside autocommit sends BEGIN
    # and waits for it before the statement, as asyncpg without prepared statements sent
    # Parse/Describe and waited before Bind/Execute.
    async with counting_proxy(pg_dsn) as wire:
        connection = await psycopg.AsyncConnection.connect(wire.dsn, prepare_threshold=None)
        try:
            mark = wire.mark()
            await connection.execute("select public.health_check()")
            assert wire.client_flights(mark) == 2
        finally:
            await connection.close()


async def test_json_arguments_are_exactly_the_schemas_jsonb_parameters(sql):
    # Each named argument goes to Postgres as the type its name says (str untyped, int the
    # smallest integer type), with no round trip to learn the function's signature. A JSON
    # value for a jsonb parameter (PostgREST's semantics: "text" is the JSON string) needs the
    # name: this list must name every jsonb parameter of our functions, and no other kind.
    rows = await sql.fetch(
        """
        select distinct a.name, format_type(a.type, null) as type
          from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace and n.nspname = 'public'
          cross join lateral unnest(p.proargnames[1:p.pronargs], p.proargtypes::oid[]) as a(name, type)
         where has_function_privilege('service_role', p.oid, 'execute')
        """
    )
    jsonb = {row["name"] for row in rows if row["type"] in ("jsonb", "json")}
    other = {row["name"] for row in rows if row["type"] not in ("jsonb", "json")}
    assert {row["type"] for row in rows if row["name"] in jsonb} == {"jsonb"}
    assert jsonb == JSON_ARGUMENTS, f"add {sorted(jsonb - JSON_ARGUMENTS)}, drop {sorted(JSON_ARGUMENTS - jsonb)}"
    assert not jsonb & other, "one name is jsonb in one function and not in another"
    assert not any(row["type"].endswith("[]") for row in rows), "an array parameter would take a list as jsonb"


async def test_a_json_scalar_reaches_a_jsonb_parameter_as_json(pg_dsn, sql):
    database = PostgresDatabase(pg_dsn)
    try:
        with pytest.raises(DatabaseError, match="payload must be a JSON object") as caught:
            await database.call("request_run", job_name="check-stale", payload="text")
        assert caught.value.code == "22023"
        rows = await database.call("request_run", job_name="check-stale", payload={"n": 2**40, "at": "x"})
    finally:
        await database.close()
    assert await sql.fetchval("select payload from cron_run_requests where id = $1", rows[0]["id"]) == (
        '{"n": 1099511627776, "at": "x"}'
    )


async def test_an_argument_psycopg_cannot_send_is_a_database_error_naming_the_function(pg_dsn, sql):
    database = PostgresDatabase(pg_dsn)
    try:
        with pytest.raises(DatabaseError) as caught:
            await database.call("list_runs", p_job="nul\x00inside")
        assert not isinstance(caught.value, DatabaseUnavailable)
        assert str(caught.value).startswith("bad argument for list_runs:")
        # The connection it was to go out on is fine.
        assert (await database.call("health_check"))[0]["ok"] is True
    finally:
        await database.close()


async def test_a_password_is_kept_out_of_an_unreachable_databases_message(sql):
    # libpq ends the credentials at the first @: this password's second half becomes the start
    # of a host name, which its message quotes. (lib/settings.py refuses such a DATABASE_URL.)
    database = PostgresDatabase("postgresql://app:first@hunter2@127.0.0.1:1/app")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await database.call("health_check")
    finally:
        await database.close()
    assert "hunter2" not in str(caught.value) and "first" not in str(caught.value)
    assert "'***@127.0.0.1'" in str(caught.value)


async def test_a_dsn_libpq_cannot_read_fails_at_once_without_quoting_it():
    database = PostgresDatabase("postgresql://app:hunter2%zz@db.example.com/app?pgbouncer=true")
    try:
        with pytest.raises(DatabaseError) as caught:
            await database.call("health_check")
    finally:
        await database.close()
    assert not isinstance(caught.value, DatabaseUnavailable)
    assert "libpq can read" in str(caught.value) and "hunter2" not in str(caught.value)


async def _backends(sql: asyncpg.Connection, where: str) -> int:
    return int(await sql.fetchval(f"select count(*) from pg_stat_activity where pid <> pg_backend_pid() and {where}"))


async def test_a_call_out_of_time_is_cancelled_on_the_server_and_its_connection_dropped(pg_dsn, sql, monkeypatch):
    from lib.db import postgres as module

    monkeypatch.setattr(module, "FIRST_ATTEMPT_FLOOR", 0.1)
    await sql.execute("begin; lock table public.cron_locks in access exclusive mode")
    # One connection in all: the next call can only go through once the abandoned one has given its slot back.
    database = PostgresDatabase(pg_dsn, max_connections=1)
    try:
        with deadline_scope(Deadline.after(0.3)):
            with pytest.raises(DatabaseUnavailable) as caught:
                await database.call("begin_run", p_job="check-stale", p_trigger="manual", p_lease_seconds=60)
        assert "no answer within" in str(caught.value)
        # The statement no longer waits on the lock: the server cancelled it (psycopg's cancel
        # request), and the connection it ran on is closed, not back among the idle ones.
        waiting = "wait_event_type = 'Lock' and query like '%begin_run%'"
        for _ in range(500):
            if not await _backends(sql, waiting):
                break
            await asyncio.sleep(0.01)
        assert await _backends(sql, waiting) == 0
        await sql.execute("rollback")
        for _ in range(500):
            if not await _backends(sql, "query like '%begin_run%'"):
                break
            await asyncio.sleep(0.01)
        assert await _backends(sql, "query like '%begin_run%'") == 0
        assert await sql.fetchval("select count(*) from cron_runs") == 0
        # The next call gets a healthy connection and goes through.
        rows = await database.call("begin_run", p_job="check-stale", p_trigger="manual", p_lease_seconds=60)
        assert rows[0]["acquired"] is True
    finally:
        await sql.execute("rollback")
        await database.close()


async def test_a_broken_connection_is_dropped_without_disturbing_a_call_on_another(pg_dsn, sql):
    database = PostgresDatabase(pg_dsn)
    await sql.execute("begin; lock table public.cron_locks in access exclusive mode")
    try:
        # Two connections: one left idle, one caught mid-call on the lock.
        await asyncio.gather(database.call("health_check"), database.call("health_check"))
        busy = asyncio.create_task(
            database.call("begin_run", p_job="check-stale", p_trigger="manual", p_lease_seconds=60)
        )
        for _ in range(500):
            if await _backends(sql, "wait_event_type = 'Lock' and query like '%begin_run%'"):
                break
            await asyncio.sleep(0.01)
        killed = await sql.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where pid <> pg_backend_pid() and backend_type = 'client backend' and state = 'idle'"
        )
        assert killed >= 1
        # The idle one's loss is found on its next use, before anything is sent on it.
        assert (await database.call("health_check"))[0]["ok"] is True
        await sql.execute("rollback")
        assert (await busy)[0]["acquired"] is True
    finally:
        await sql.execute("rollback")
        await database.close()
