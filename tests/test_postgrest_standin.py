"""The PostgREST stand-in itself behaves as PostgREST's source says (see tests/fakes/postgrest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.fakes.postgrest import (
    PostgrestEmulator,
    gateway_error,
    read_timeout_after_commit,
    status_for_sqlstate,
)

BASE = "https://standin.test/rest/v1/rpc"

# Functions that exist only for these tests; dropped afterwards.
FUNCTIONS = """
create or replace function public.standin_rows(p_count integer)
returns table (n integer, label text) language sql stable set search_path = '' as $$
  select i, 'row-' || i from generate_series(1, p_count) i
$$;
create or replace function public.standin_settings()
returns table (statement_timeout text, lock_timeout text, read_only text, role text)
language sql volatile set search_path = '' as $$
  select current_setting('statement_timeout'), current_setting('lock_timeout'),
         current_setting('transaction_read_only'), current_user::text
$$;
create or replace function public.standin_settings_stable()
returns table (read_only text, role text) language sql stable set search_path = '' as $$
  select current_setting('transaction_read_only'), current_user::text
$$;
create sequence if not exists public.standin_seq;
create or replace function public.standin_next_stable()
returns table (n bigint, ok boolean) language sql stable set search_path = '' as $$
  select nextval('public.standin_seq'), true
$$;
create or replace function public.standin_next_volatile()
returns table (n bigint, ok boolean) language sql volatile set search_path = '' as $$
  select nextval('public.standin_seq'), true
$$;
create or replace function public.standin_sleep(p_seconds double precision)
returns table (slept double precision, ok boolean) language sql volatile set search_path = '' as $$
  select p_seconds, true from (select pg_sleep(p_seconds)) s
$$;
create or replace function public.standin_sleep_long(p_seconds double precision)
returns table (slept double precision, ok boolean) language sql volatile
set search_path = '' set statement_timeout = '30s' as $$
  select p_seconds, true from (select pg_sleep(p_seconds)) s
$$;
create or replace function public.standin_raise(p_code text, p_message text default 'boom')
returns table (never text, ok boolean) language plpgsql volatile set search_path = '' as $$
begin
  raise exception using errcode = p_code, message = p_message;
end
$$;
create or replace function public.standin_args(p_a integer, p_b integer default 0)
returns table (a integer, b integer) language sql stable set search_path = '' as $$ select p_a, p_b $$;
create or replace function public.standin_over(p_x integer)
returns table (kind text, ok boolean) language sql stable set search_path = '' as $$ select 'int', true $$;
create or replace function public.standin_over(p_x text)
returns table (kind text, ok boolean) language sql stable set search_path = '' as $$ select 'text', true $$;
grant usage on sequence public.standin_seq to service_role;
grant execute on all functions in schema public to service_role;
"""

DROP = """
drop function if exists public.standin_rows(integer), public.standin_settings(), public.standin_settings_stable(),
  public.standin_next_stable(), public.standin_next_volatile(), public.standin_sleep(double precision),
  public.standin_sleep_long(double precision), public.standin_raise(text, text),
  public.standin_args(integer, integer), public.standin_over(integer), public.standin_over(text);
drop sequence if exists public.standin_seq;
"""


@pytest.fixture
async def functions(pg_dsn: str) -> AsyncIterator[None]:
    connection = await asyncpg.connect(pg_dsn)
    await connection.execute(FUNCTIONS)
    yield
    await connection.execute(DROP)
    await connection.close()


def client_for(emulator: PostgrestEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(emulator))


@pytest.fixture
async def standin(pg_dsn: str, functions: None) -> AsyncIterator[PostgrestEmulator]:
    emulator = PostgrestEmulator(pg_dsn)
    yield emulator
    await emulator.close()


async def rpc(emulator: PostgrestEmulator, fn: str, **args: object) -> httpx.Response:
    async with client_for(emulator) as http:
        return await http.post(f"{BASE}/{fn}", json=args)


async def test_db_max_rows_caps_an_rpc_result_at_1000_by_default(standin, pg_dsn):
    response = await rpc(standin, "standin_rows", p_count=1500)
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == 1000
    assert rows[0] == {"n": 1, "label": "row-1"}
    uncapped = PostgrestEmulator(pg_dsn, max_rows=None)
    try:
        assert len((await rpc(uncapped, "standin_rows", p_count=1500)).json()) == 1500
    finally:
        await uncapped.close()


async def test_calls_run_as_service_role_under_the_authenticator_timeouts(standin):
    [row] = (await rpc(standin, "standin_settings")).json()
    assert row == {"statement_timeout": "8s", "lock_timeout": "8s", "read_only": "off", "role": "service_role"}


async def test_stable_functions_run_read_only_and_volatile_ones_read_write(standin):
    [row] = (await rpc(standin, "standin_settings_stable")).json()
    assert row["read_only"] == "on"
    refused = await rpc(standin, "standin_next_stable")
    assert refused.status_code == 405
    assert refused.json()["code"] == "25006"
    allowed = await rpc(standin, "standin_next_volatile")
    assert allowed.status_code == 200 and allowed.json()[0]["ok"] is True


async def test_statement_timeout_cancels_with_57014_and_a_function_setting_is_hoisted(pg_dsn, functions):
    emulator = PostgrestEmulator(pg_dsn, statement_timeout="50ms")
    try:
        cancelled = await rpc(emulator, "standin_sleep", p_seconds=0.5)
        assert cancelled.status_code == 500
        assert cancelled.json()["code"] == "57014"
        # The function's own `set statement_timeout` is applied before the
        # call (db-hoisted-tx-settings), so it wins over the role's.
        allowed = await rpc(emulator, "standin_sleep_long", p_seconds=0.2)
        assert allowed.status_code == 200
    finally:
        await emulator.close()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("40001", 500), ("40P01", 500), ("57014", 500), ("55P03", 500), ("23505", 409), ("23503", 409),
        ("22023", 400), ("P0001", 400), ("42501", 403), ("08006", 503), ("53300", 503), ("57P01", 503),
        ("53400", 500), ("25006", 405), ("42883", 404), ("XX000", 500), ("PT418", 418), ("22P02", 400),
    ],
)  # fmt: skip
async def test_sqlstates_map_to_postgrests_status_table(standin, code, status):
    response = await rpc(standin, "standin_raise", p_code=code, p_message="bad thing")
    assert response.status_code == status
    assert response.json() == {"code": code, "message": "bad thing", "details": None, "hint": None}
    assert response.headers["proxy-status"] == f"PostgREST; error={code}"


def test_status_table_special_cases():
    assert status_for_sqlstate("42501", authed=False) == 401
    assert status_for_sqlstate("22023", 'role "x" does not exist') == 401
    assert status_for_sqlstate("21000", "UPDATE requires a WHERE clause") == 400
    assert status_for_sqlstate("21000", "more than one row returned") == 500


async def test_argument_mismatch_is_pgrst202(standin):
    unknown = await rpc(standin, "standin_args", p_a=1, p_zzz=2)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "PGRST202"
    assert (
        unknown.json()["message"] == "Could not find the function public.standin_args(p_a, p_zzz) in the schema cache"
    )
    missing = await rpc(standin, "standin_args", p_b=2)
    assert missing.status_code == 404 and missing.json()["code"] == "PGRST202"
    optional_left_out = await rpc(standin, "standin_args", p_a=5)
    assert optional_left_out.json() == [{"a": 5, "b": 0}]
    nothing = await rpc(standin, "no_such_function")
    assert nothing.status_code == 404
    assert (
        nothing.json()["message"]
        == "Could not find the function public.no_such_function without parameters in the schema cache"
    )


async def test_overloads_with_the_same_argument_names_are_pgrst203(standin):
    response = await rpc(standin, "standin_over", p_x=1)
    assert response.status_code == 300
    body = response.json()
    assert body["code"] == "PGRST203"
    assert "public.standin_over(p_x => integer)" in body["message"]
    assert "public.standin_over(p_x => text)" in body["message"]


async def test_gateway_errors_carry_only_a_message_or_html(standin):
    standin.fail_next("standin_settings", gateway_error(503, "upstream connect error"), gateway_error(502, html=True))
    first = await rpc(standin, "standin_settings")
    assert first.status_code == 503 and first.json() == {"message": "upstream connect error"}
    second = await rpc(standin, "standin_settings")
    assert second.status_code == 502 and second.text.startswith("<html>")
    assert (await rpc(standin, "standin_settings")).status_code == 200
    assert standin.committed == {"standin_settings": 1}


async def test_read_timeout_after_commit_has_run_the_call(standin, pg_dsn):
    standin.fail_next("standin_next_volatile", read_timeout_after_commit())
    connection = await asyncpg.connect(pg_dsn)
    try:
        before = await connection.fetchval("select (last_value, is_called)::text from public.standin_seq")
        with pytest.raises(httpx.ReadTimeout):
            await rpc(standin, "standin_next_volatile")
        after = await connection.fetchval("select (last_value, is_called)::text from public.standin_seq")
    finally:
        await connection.close()
    assert after != before
    assert standin.committed == {"standin_next_volatile": 1}
