"""The typed query layer matches migrations/, and every function is the service role's alone.

Modelled on procrastinate's testing.py, which checks its set of queries: a SQL
function the service calls without a typed wrapper, or a wrapper for a
function migrations/ no longer defines, fails here rather than at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asyncpg

from lib.db.statuses import ReminderStatus, RequestStatus, RunStatus, Trigger

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "lib" / "db" / "queries"
MIGRATIONS = ROOT / "migrations"

# Write paths only other apps call (the agents, the reminder bot); the service never does.
OTHER_APPS_ONLY = {"record_heartbeat", "snooze_reminder", "complete_reminder", "cancel_reminders_for_lead"}
# Called only from other SQL functions (begin_run and list_runs reap before they read;
# ops_update_job_at_version checks the version, then edits through ops_update_job).
SQL_ONLY = {"reap_abandoned_runs", "ops_update_job"}
# Called by `migrate` on its own connection, under its advisory lock, not through the port.
MIGRATE_ONLY = {"upsert_builtin_job"}

_DEFINITION = re.compile(
    r"create\s+(?:or\s+replace\s+)?function\s+public\.(\w+)\s*\((?:[^()]|\([^()]*\))*\)\s*returns\s+(\w+)",
    re.IGNORECASE,
)


def defined_functions() -> dict[str, str]:
    """name -> what it returns, for every function in migrations/ (subfolders included)."""
    found: dict[str, str] = {}
    for path in sorted(MIGRATIONS.rglob("*.sql")):
        for name, returns in _DEFINITION.findall(path.read_text()):
            found[name.lower()] = returns.lower()
    return found


def _port_calls(path: Path) -> list[tuple[int, str | None]]:
    """(line, function name or None when not a literal) of every `<x>.call(...)` in a module."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call":
            first = node.args[0] if node.args else None
            name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
            calls.append((node.lineno, name))
    return calls


def wrapped_functions() -> dict[str, list[str]]:
    """SQL function -> the query modules that call it."""
    wrapped: dict[str, list[str]] = {}
    for path in sorted(QUERIES.glob("*.py")):
        for line, name in _port_calls(path):
            assert name is not None, f"{path.name}:{line} calls the port with a name that is not a literal"
            wrapped.setdefault(name, []).append(path.stem)
    return wrapped


def test_the_migrations_parse_to_the_functions_we_know() -> None:
    # The parser itself must see every kind of definition, or the next test proves nothing.
    defined = defined_functions()
    assert {"begin_run", "settle_reminders", "request_run", "record_heartbeat"} <= defined.keys()
    assert defined["cron_jobs_schedule_changed"] == "trigger"
    assert defined["begin_run"] == "table"


def test_every_function_the_service_calls_has_exactly_one_typed_wrapper() -> None:
    defined = defined_functions()
    expected = {
        name
        for name, returns in defined.items()
        if returns != "trigger"
        # A leading underscore marks a helper of other SQL functions (replays, shared predicates).
        and not name.startswith("_")
        and name not in OTHER_APPS_ONLY | SQL_ONLY | MIGRATE_ONLY
    }
    wrapped = wrapped_functions()
    assert set(wrapped) == expected, (
        f"not wrapped: {sorted(expected - set(wrapped))}; wrapped but not a service function: "
        f"{sorted(set(wrapped) - expected)}"
    )
    twice = {name: modules for name, modules in wrapped.items() if len(modules) > 1}
    assert not twice, f"wrapped more than once: {twice}"
    # The explicit lists name real functions: a rename in migrations/ must update them.
    assert (OTHER_APPS_ONLY | SQL_ONLY | MIGRATE_ONLY) <= defined.keys()


def test_only_lib_db_calls_the_port() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "lib").rglob("*.py"))
        if QUERIES.parent not in path.parents
        for line, _ in _port_calls(path)
    ]
    assert outside == []


async def test_every_public_function_is_the_service_roles_alone(sql: asyncpg.Connection) -> None:
    rows = await sql.fetch(
        """
        select p.oid::regprocedure::text as signature,
               has_function_privilege('public', p.oid, 'execute') as public,
               has_function_privilege('anon', p.oid, 'execute') as anon,
               has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
               has_function_privilege('service_role', p.oid, 'execute') as service_role
          from pg_proc p
         where p.pronamespace = 'public'::regnamespace
           -- functions an extension brings are the extension's to grant
           and not exists (select 1 from pg_depend d
                            where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
           -- stand-ins a test defines for the PostgREST fake
           and p.proname not like 'standin\\_%'
        """
    )
    names = {row["signature"].split("(")[0] for row in rows}
    assert set(defined_functions()) <= names, "a migrated function is missing from the database"
    wrong = [
        row["signature"]
        for row in rows
        if row["public"] or row["anon"] or row["authenticated"] or not row["service_role"]
    ]
    assert wrong == [], f"execute not revoked from public/anon/authenticated or not granted to service_role: {wrong}"


async def test_the_status_enums_are_the_sets_the_tables_accept(sql: asyncpg.Connection) -> None:
    """Python and SQL share one vocabulary: each enum equals its column's check constraint."""
    checks = {
        ("cron_runs", "status"): RunStatus,
        ("cron_run_requests", "status"): RequestStatus,
        ("scheduled_reminders", "status"): ReminderStatus,
    }
    for (table, column), enum in checks.items():
        definition = await sql.fetchval(
            """
            select pg_get_constraintdef(c.oid)
              from pg_constraint c
             where c.conrelid = ('public.' || $1)::regclass and c.contype = 'c'
               and pg_get_constraintdef(c.oid) like '%' || $2 || '%'
            """,
            table,
            column,
        )
        assert definition is not None, f"{table}.{column} has no check constraint"
        allowed = set(re.findall(r"'([^']+)'", definition))
        assert allowed == {str(member) for member in enum}, f"{table}.{column}: {sorted(allowed)}"
    assert {str(trigger) for trigger in Trigger} == {
        "vercel-cron", "manual", "run-request", "schedule", "cli", "supabase-cron",
    }  # fmt: skip
