"""lib/pgconn.py: the direct psycopg connection migrate, supabase-cron and seed-demo share.

What those commands rely on, against the suite's real Postgres: no prepared
statements (Supabase's transaction pooler keeps none), autocommit outside
`transaction()`, Postgres' own `$n` placeholders with a literal `%`, several
statements in one text without parameters, and error lines that carry the
server's message without the statement's text or the DSN.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import asyncpg
import psycopg
import pytest

from lib import pgconn
from lib.pgconn import Connection


@pytest.fixture
async def connection(pg_dsn: str) -> AsyncIterator[Connection]:
    opened = await pgconn.connect(pg_dsn, timeout_seconds=15)
    yield opened
    await opened.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_no_statement_is_ever_prepared(connection: Connection) -> None:
    # psycopg's default prepares a query on its fifth run; a transaction pooler would then lose it.
    for n in range(12):
        assert await pgconn.fetchval(connection, "select $1::int + 1", n) == n + 1
    assert await pgconn.fetchval(connection, "select count(*) from pg_catalog.pg_prepared_statements") == 0


async def test_outside_a_transaction_each_statement_commits(connection: Connection, sql: asyncpg.Connection) -> None:
    await pgconn.execute(connection, "create table if not exists public.pgconn_probe (note text)")
    try:
        await pgconn.execute(connection, "insert into public.pgconn_probe values ($1)", "committed")
        # Another session sees it at once: nothing is left open on the tool's connection.
        assert await sql.fetchval("select note from public.pgconn_probe") == "committed"
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with connection.transaction():
                await pgconn.execute(connection, "insert into public.pgconn_probe values ('rolled back')")
                await pgconn.execute(connection, "create unique index pgconn_once on public.pgconn_probe ((1))")
        assert await sql.fetchval("select count(*) from public.pgconn_probe") == 1
    finally:
        await sql.execute("drop table public.pgconn_probe")


async def test_native_placeholders_reuse_a_value_and_leave_percent_alone(connection: Connection) -> None:
    row = await pgconn.fetchrow(
        connection,
        "select $1 like 'cron%' as matches, $1 = $2 as same, $3::text[] as names",
        "cronrelay:x",
        "cronrelay:x",
        ["a", "b"],
    )
    assert row == {"matches": True, "same": True, "names": ["a", "b"]}


async def test_several_statements_run_in_one_text_without_parameters(connection: Connection) -> None:
    await pgconn.execute(
        connection,
        """
        create or replace function pg_temp.pgconn_two() returns int language plpgsql as $body$
        begin
          return 2; -- a semicolon inside a dollar-quoted body
        end
        $body$;
        create temporary table pgconn_rows (n int);
        insert into pgconn_rows select pg_temp.pgconn_two();
        """,
    )
    assert await pgconn.fetch(connection, "select n from pgconn_rows") == [{"n": 2}]


async def test_fetchval_of_no_row_is_none(connection: Connection) -> None:
    assert await pgconn.fetchval(connection, "select 1 where false") is None


async def test_the_connect_timeout_reaches_libpq(connection: Connection, pg_dsn: str) -> None:
    assert connection.info.get_parameters()["connect_timeout"] == "15"
    by_default = await pgconn.connect(pg_dsn)
    try:
        assert by_default.info.get_parameters()["connect_timeout"] == "60"
    finally:
        await by_default.close()


async def test_a_server_error_is_its_message_detail_and_hint_without_the_statement(connection: Connection) -> None:
    with pytest.raises(psycopg.Error) as caught:
        await pgconn.execute(connection, "select * from public.no_such_table_here")
    assert pgconn.error_text(caught.value) == 'relation "public.no_such_table_here" does not exist'
    assert "LINE 1" in str(caught.value)  # what error_text leaves out

    with pytest.raises(psycopg.Error) as caught:
        await pgconn.execute(
            connection,
            "do $$ begin raise exception 'refused' using detail = 'why it was', hint = 'what to do'; end $$",
        )
    assert pgconn.error_text(caught.value) == "refused\nDETAIL:  why it was\nHINT:  what to do"


async def test_a_refused_connection_names_no_password() -> None:
    dsn = f"postgresql://postgres:hunter2-password@127.0.0.1:{_closed_port()}/postgres"
    with pytest.raises(psycopg.OperationalError) as caught:
        await pgconn.connect(dsn, timeout_seconds=15)
    assert caught.value.sqlstate is None
    text = pgconn.error_text(caught.value)
    assert "connection failed" in text and "hunter2" not in text


def test_error_text_of_any_other_error_is_its_own_text() -> None:
    assert pgconn.error_text(OSError("no route")) == "no route"
