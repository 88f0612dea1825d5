"""ops_act and the audit triggers, in SQL: only ops_ functions, arguments by name and type, one audit per
call even when an adapter repeats it, and nothing recorded for the engine's own writes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from tests.factories import add_job


async def act(
    sql: asyncpg.Connection, function: str, args: dict[str, object], key: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    rows = await sql.fetch(
        "select result, audited from public.ops_act('ops:alice', 'test.act', $1, $2::jsonb, $3)",
        function,
        json.dumps(args),
        key,
    )
    return [dict(row) for row in rows]


@pytest.mark.parametrize("function", ["begin_run", "ops_act", "pg_sleep", "ops_x; drop table cron_jobs"])
async def test_only_the_services_ops_functions_can_be_acted(sql: asyncpg.Connection, function: str) -> None:
    with pytest.raises(asyncpg.PostgresError) as raised:
        await act(sql, function, {})
    assert raised.value.sqlstate == "PT422"
    assert await sql.fetchval("select count(*) from public.ops_audit") == 0


async def test_an_unknown_argument_is_refused(sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "nightly")
    with pytest.raises(asyncpg.PostgresError) as raised:
        await act(sql, "ops_set_job_enabled", {"p_job_id": job, "p_enabled": False, "p_nonsense": 1})
    assert raised.value.sqlstate == "PT404"
    assert await sql.fetchval("select enabled from public.cron_jobs where id = $1", job) is True


async def test_a_repeat_with_the_same_key_is_not_audited_twice(sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "nightly")
    key = uuid.uuid4()
    first = await act(sql, "ops_set_job_enabled", {"p_job_id": job, "p_enabled": False}, key)
    again = await act(sql, "ops_set_job_enabled", {"p_job_id": job, "p_enabled": False}, key)
    assert first[0]["audited"] == 1 and again[0]["audited"] == 0
    assert json.loads(first[0]["result"])["job"]["enabled"] is False
    assert await sql.fetchval("select count(*) from public.ops_audit") == 1


async def test_the_engines_own_writes_are_not_audited(sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "nightly")
    await sql.execute("update public.cron_jobs set last_status = 'ok', last_run_at = now() where id = $1", job)
    await sql.execute("select * from public.ops_set_job_enabled($1, false)", uuid.UUID(job))
    assert await sql.fetchval("select count(*) from public.ops_audit") == 0
    # And the setting an act uses is gone once it has run: the next plain write is not recorded either.
    await act(sql, "ops_set_job_enabled", {"p_job_id": job, "p_enabled": True})
    await sql.execute("update public.cron_jobs set last_status = 'error' where id = $1", job)
    assert await sql.fetchval("select count(*) from public.ops_audit") == 1


async def test_an_overload_left_by_a_changed_signature_is_resolved_by_the_arguments(sql: asyncpg.Connection) -> None:
    transaction = sql.transaction()
    await transaction.start()
    try:
        for signature, answer in (("p_a integer", "'old'"), ("p_a integer, p_b integer", "'new'")):
            await sql.execute(
                f"create function public.ops_zz_probe({signature}) returns table (which text, a integer) "
                f"language sql set search_path = '' as $$ select {answer}, p_a $$"
            )
        old = await act(sql, "ops_zz_probe", {"p_a": 1})
        new = await act(sql, "ops_zz_probe", {"p_a": 2, "p_b": 3})
        assert json.loads(old[0]["result"]) == {"which": "old", "a": 1}
        assert json.loads(new[0]["result"]) == {"which": "new", "a": 2}
    finally:
        await transaction.rollback()
