"""As anon or authenticated, every table, view and sequence, with every verb, and every function is denied.

The objects are read from the catalog, so a table or function added later is
covered without touching this file. Each verb is both asked of the catalog
(`has_*_privilege`) and tried for real inside a rolled-back transaction.
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.reliability.counts import Counts

ROLES = ["anon", "authenticated"]
KNOWN_TABLES = {"agents", "heartbeats", "scheduled_reminders", "cron_jobs", "cron_run_requests", "cron_runs",
                "cron_locks", "schema_migrations", "cron_request_attempts",
                "ops_users", "ops_sessions", "ops_signin_failures", "ops_audit"}  # fmt: skip
# The console's people: sign-in, sessions, operators and the audit, which anon must never reach.
KNOWN_FUNCTIONS = {"ops_act", "ops_signin_begin", "ops_signin_succeeded", "ops_session_get", "ops_session_end",
                   "ops_signin_state", "ops_users_add", "ops_users_list", "ops_users_set_role",
                   "ops_users_set_disabled", "ops_users_set_password", "ops_audit_list",
                   "_ops_audit_row"}  # fmt: skip
TABLE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
SEQUENCE_PRIVILEGES = ["USAGE", "SELECT", "UPDATE"]


async def _relations(sql: asyncpg.Connection, kinds: str) -> list[str]:
    rows = await sql.fetch(
        "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
        " and c.relkind = any($1::char[]) order by 1",
        list(kinds),
    )
    return [r["relname"] for r in rows]


async def _our_functions(sql: asyncpg.Connection) -> list[str]:
    rows = await sql.fetch(
        "select p.oid::regprocedure::text as signature from pg_proc p where p.pronamespace = 'public'::regnamespace"
    )
    return [r["signature"] for r in rows]


async def _as(sql: asyncpg.Connection, role: str, statement: str) -> None:
    """Run `statement` as `role` in a transaction that is rolled back; it must be refused."""
    transaction = sql.transaction()
    await transaction.start()
    try:
        await sql.execute(f"set local role {role}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await sql.execute(statement)
    finally:
        await transaction.rollback()


@pytest.mark.parametrize("role", ROLES)
async def test_role_has_no_privilege_on_any_table_view_or_sequence(
    sql: asyncpg.Connection, role: str, counts: Counts
) -> None:
    tables = await _relations(sql, "rpvm")
    assert set(tables) >= KNOWN_TABLES
    for table in tables:
        for privilege in TABLE_PRIVILEGES:
            allowed = await sql.fetchval("select has_table_privilege($1, $2, $3)", role, f"public.{table}", privilege)
            assert allowed is False, f"{role} has {privilege} on {table}"
            counts.handled += 1
        any_column = await sql.fetchval(
            "select has_any_column_privilege($1, $2, 'SELECT, INSERT, UPDATE, REFERENCES')", role, f"public.{table}"
        )
        assert any_column is False, f"{role} has a column privilege on {table}"
    for sequence in await _relations(sql, "S"):
        for privilege in SEQUENCE_PRIVILEGES:
            allowed = await sql.fetchval(
                "select has_sequence_privilege($1, $2, $3)", role, f"public.{sequence}", privilege
            )
            assert allowed is False, f"{role} has {privilege} on sequence {sequence}"
            counts.handled += 1
    assert await sql.fetchval("select has_schema_privilege($1, 'public', 'CREATE')", role) is False


@pytest.mark.parametrize("role", ROLES)
async def test_role_is_refused_every_verb_on_every_table_for_real(
    sql: asyncpg.Connection, role: str, counts: Counts
) -> None:
    for table in await _relations(sql, "rp"):
        column = await sql.fetchval(
            "select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped"
            " order by attnum limit 1",
            f"public.{table}",
        )
        for statement in (
            f"select * from public.{table} limit 1",
            f"insert into public.{table} default values",
            f'update public.{table} set "{column}" = "{column}"',
            f"delete from public.{table}",
            f"truncate public.{table}",
        ):
            await _as(sql, role, statement)
            counts.handled += 1
    for view in await _relations(sql, "vm"):
        await _as(sql, role, f"select * from public.{view} limit 1")
        counts.handled += 1


@pytest.mark.parametrize("role", ROLES)
async def test_role_cannot_call_any_function(sql: asyncpg.Connection, role: str, counts: Counts) -> None:
    functions = await _our_functions(sql)
    assert len(functions) >= 10
    assert {signature.split("(")[0] for signature in functions} >= KNOWN_FUNCTIONS
    for signature in functions:
        allowed = await sql.fetchval("select has_function_privilege($1, $2, 'execute')", role, signature)
        assert allowed is False, f"{role} may execute {signature}"
        counts.handled += 1


async def test_anon_call_is_refused_by_the_database(sql: asyncpg.Connection, counts: Counts) -> None:
    await _as(sql, "anon", "select * from public.begin_run('x', 'manual', 60)")
    counts.handled = 1


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "statement",
    [
        "select * from public.ops_signin_begin('203.0.113.1', 'alice')",
        "select * from public.ops_session_get(repeat('a', 64))",
        "select * from public.ops_users_add('mallory', 'admin', 'scrypt$x')",
        "select * from public.ops_act('ops:mallory', 'job.delete', 'ops_users_list', '{}'::jsonb)",
        "select * from public.ops_audit_list()",
        "select password_hash from public.ops_users",
        "select token_hash from public.ops_sessions",
        "insert into public.ops_audit (actor, action) values ('ops:mallory', 'forged')",
        "delete from public.ops_signin_failures",
    ],
)
async def test_role_cannot_sign_in_read_sessions_or_touch_operators_and_the_audit(
    sql: asyncpg.Connection, role: str, statement: str, counts: Counts
) -> None:
    await _as(sql, role, statement)
    counts.handled = 1


async def test_every_table_has_rls_and_no_policy_for_anon(sql: asyncpg.Connection, counts: Counts) -> None:
    rows = await sql.fetch(
        "select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace"
        " and relkind in ('r', 'p')"
    )
    # Partitioned tables and every partition of theirs (heartbeats' daily ones, made at run time) too.
    assert {r["relname"] for r in rows} >= KNOWN_TABLES | {"heartbeats_default"}
    assert all(r["relrowsecurity"] for r in rows), [r["relname"] for r in rows if not r["relrowsecurity"]]
    policies = await sql.fetch("select tablename, roles from pg_policies where schemaname = 'public'")
    for policy in policies:
        assert set(policy["roles"]) == {"service_role"}, policy
    counts.handled = len(rows)


# The one exception (DESIGN.md Data model): partition upkeep is DDL that only
# the tables' owner may do, so it runs as its owner.
SECURITY_DEFINER = {"heartbeat_partitions"}


async def test_every_function_pins_search_path_and_is_security_invoker(sql: asyncpg.Connection, counts: Counts) -> None:
    rows = await sql.fetch(
        "select p.proname, p.prosecdef, p.proconfig from pg_proc p where p.pronamespace = 'public'::regnamespace"
    )
    for row in rows:
        assert row["prosecdef"] is (row["proname"] in SECURITY_DEFINER), row["proname"]
        assert 'search_path=""' in (row["proconfig"] or []), row["proname"]
    counts.handled = len(rows)


async def test_the_security_definer_function_is_the_migration_roles_and_service_roles_alone(
    sql: asyncpg.Connection, counts: Counts
) -> None:
    rows = await sql.fetch(
        "select p.oid::regprocedure::text as signature, pg_get_userbyid(p.proowner) as owner, p.proacl::text[] as acl"
        " from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prosecdef"
    )
    assert {row["signature"].split("(")[0] for row in rows} == SECURITY_DEFINER
    for row in rows:
        # Owned by the role migrate ran as (this connection's), not by service_role.
        assert row["owner"] == await sql.fetchval("select current_user"), row
        # Execute for its owner and service_role, nobody else (no PUBLIC entry "=X/...").
        grantees = {entry.split("=")[0] for entry in row["acl"] or []}
        assert grantees == {row["owner"], "service_role"}, row
        for role in ("public", "anon", "authenticated"):
            if role != "public":
                assert not await sql.fetchval(
                    "select has_function_privilege($1, $2, 'execute')", role, row["signature"]
                )
        counts.handled += 1
