"""As anon or authenticated, every table read and every function call is denied."""

from __future__ import annotations

import asyncpg
import pytest

TABLES = ["agents", "heartbeats", "scheduled_reminders", "cron_jobs", "cron_run_requests", "cron_runs",
          "cron_locks", "schema_migrations"]  # fmt: skip


async def _our_functions(sql) -> list[str]:
    rows = await sql.fetch(
        """
        select p.oid::regprocedure::text as signature
          from pg_proc p
         where p.pronamespace = 'public'::regnamespace
        """
    )
    return [r["signature"] for r in rows]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_role_cannot_read_any_table(sql, role):
    for table in TABLES:
        tx = sql.transaction()
        await tx.start()
        try:
            await sql.execute(f"set local role {role}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await sql.fetch(f"select * from public.{table} limit 1")
        finally:
            await tx.rollback()


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_role_cannot_call_any_function(sql, role):
    functions = await _our_functions(sql)
    assert len(functions) >= 10
    for signature in functions:
        tx = sql.transaction()
        await tx.start()
        try:
            await sql.execute(f"set local role {role}")
            allowed = await sql.fetchval("select has_function_privilege($1, 'execute')", signature)
            assert allowed is False, f"{role} may execute {signature}"
        finally:
            await tx.rollback()


async def test_anon_call_is_refused_by_the_database(sql):
    tx = sql.transaction()
    await tx.start()
    try:
        await sql.execute("set local role anon")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await sql.fetch("select * from public.begin_run('x', 'manual', 60)")
    finally:
        await tx.rollback()


async def test_every_table_has_rls_and_no_policy_for_anon(sql):
    rows = await sql.fetch(
        "select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'"
    )
    assert {r["relname"] for r in rows} >= set(TABLES)
    assert all(r["relrowsecurity"] for r in rows)
    policies = await sql.fetch("select tablename, roles from pg_policies where schemaname = 'public'")
    for policy in policies:
        assert set(policy["roles"]) == {"service_role"}, policy


async def test_every_function_pins_search_path_and_is_security_invoker(sql):
    rows = await sql.fetch(
        """
        select p.proname, p.prosecdef, p.proconfig
          from pg_proc p
         where p.pronamespace = 'public'::regnamespace
        """
    )
    for row in rows:
        assert row["prosecdef"] is False, row["proname"]
        assert 'search_path=""' in (row["proconfig"] or []), row["proname"]
