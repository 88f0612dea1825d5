"""migrate is ordered, recorded and idempotent; applied versioned files are frozen, repeatable ones re-applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from lib.migrate import (
    MIGRATIONS,
    MigrationError,
    MigrationFailed,
    migrate,
    migration_files,
    repeatable_files,
    vercel_crons,
)
from tests.databases import apply_pre_baseline, schema_dump, scratch_database


async def test_migrations_are_recorded_and_rerun_is_a_no_op(pg_dsn, sql):
    versions = [r["version"] for r in await sql.fetch("select version from schema_migrations order by version")]
    assert versions == [p.stem for p in migration_files()]
    before = await sql.fetchval("select max(applied_at) from schema_migrations")
    assert await migrate(pg_dsn) == []
    assert await sql.fetchval("select max(applied_at) from schema_migrations") == before


async def test_migrate_upserts_one_builtin_job_per_vercel_cron(pg_dsn, sql):
    await migrate(pg_dsn)
    rows = await sql.fetch("select name, kind, target, schedule, schedule_type from cron_jobs order by name")
    expected = sorted(vercel_crons())
    assert [(r["name"], r["schedule"]) for r in rows] == expected
    assert all(r["kind"] == "builtin" and r["target"] == r["name"] and r["schedule_type"] == "vercel" for r in rows)


async def test_every_vercel_cron_has_a_job(sql):
    from lib.jobs.registry import JOBS

    assert {job for job, _ in vercel_crons()} <= set(JOBS)


def test_the_local_cron_runner_can_schedule_every_vercel_cron():
    from datetime import UTC, datetime

    from lib.clock.schedules import next_cron_fire, parse_schedule

    now = datetime(2026, 11, 23, 10, 2, 30, tzinfo=UTC)
    fires = {job: next_cron_fire(parse_schedule("cron", s, "UTC"), now) for job, s in vercel_crons()}
    assert fires["check-stale"] == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert all(now < fire <= datetime(2026, 11, 24, 10, 2, 30, tzinfo=UTC) for fire in fires.values())


async def test_rows_with_only_identifying_columns_are_valid(sql):
    agent = await sql.fetchrow("insert into agents default values returning status, metadata")
    assert agent["status"] == "online"
    job = await sql.fetchrow(
        "insert into cron_jobs (name) values ('x') returning project_id, payload, enabled, timezone, id"
    )
    assert (job["project_id"], job["payload"], job["enabled"], job["timezone"]) == ("default", "{}", True, "UTC")
    request = await sql.fetchrow(
        "insert into cron_run_requests (job_id) values ($1) "
        "returning status, attempts, max_attempts, available_at is not null as a, payload",
        job["id"],
    )
    assert dict(request) == {"status": "queued", "attempts": 0, "max_attempts": 5, "a": True, "payload": None}
    reminder = await sql.fetchrow(
        "insert into scheduled_reminders (lead_id, telegram_id) values ('l', 1) "
        "returning status, attempts, snooze_count, reminder_count"
    )
    assert dict(reminder) == {"status": "pending", "attempts": 0, "snooze_count": 0, "reminder_count": 0}


# -- versioned files are frozen, repeatable files are re-applied --------------


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A copy of migrations/ that a test may edit."""
    return Path(shutil.copytree(MIGRATIONS, tmp_path / "migrations"))


async def _fetch(dsn: str, query: str, *args: object) -> list[dict[str, object]]:
    connection = await asyncpg.connect(dsn)
    try:
        return [dict(row) for row in await connection.fetch(query, *args)]
    finally:
        await connection.close()


async def test_a_fresh_database_applies_every_file_once(pg_dsn):
    dsn = await scratch_database(pg_dsn, "fresh")
    applied = await migrate(dsn)
    assert applied == [p.stem for p in migration_files()] + [f"repeatable/{p.name}" for p in repeatable_files()]
    assert applied[-1] == "repeatable/grants.sql"
    assert await migrate(dsn) == []
    recorded = await _fetch(dsn, "select name from schema_repeatables order by name")
    assert sorted(str(r["name"]) for r in recorded) == sorted(p.name for p in repeatable_files())


async def test_an_edited_versioned_file_is_refused(pg_dsn, migrations_copy):
    dsn = await scratch_database(pg_dsn, "edited")
    await migrate(dsn, migrations_copy)
    baseline = migrations_copy / "0001_baseline.sql"
    baseline.write_text(baseline.read_text() + "\ncreate table public.sneaky (id integer);\n")

    with pytest.raises(MigrationError) as refused:
        await migrate(dsn, migrations_copy)
    message = str(refused.value)
    assert "0001_baseline.sql" in message
    assert "add a new migration instead of editing an applied one" in message
    assert await _fetch(dsn, "select to_regclass('public.sneaky') as t") == [{"t": None}]


async def test_a_failing_versioned_file_names_its_line_and_leaves_nothing_of_itself(pg_dsn, migrations_copy):
    dsn = await scratch_database(pg_dsn, "broken")
    (migrations_copy / "9999_broken.sql").write_text(
        "create table public.broken_probe (id integer);\n\n-- a comment\nselect id from public.no_such_table;\n"
    )

    with pytest.raises(MigrationFailed) as failed:
        await migrate(dsn, migrations_copy)

    assert str(failed.value) == (
        '9999_broken.sql line 4: relation "public.no_such_table" does not exist (nothing of it was applied)'
    )
    assert await _fetch(dsn, "select to_regclass('public.broken_probe') as t") == [{"t": None}]
    versions = [str(r["version"]) for r in await _fetch(dsn, "select version from schema_migrations order by 1")]
    assert versions == [p.stem for p in migration_files()]


async def test_a_failing_repeatable_file_applies_no_repeatable_file(pg_dsn, migrations_copy):
    dsn = await scratch_database(pg_dsn, "broken_repeatable")
    await migrate(dsn, migrations_copy)
    (migrations_copy / "repeatable" / "aaa_first.sql").write_text(
        "create or replace function public.repeatable_probe() returns int language sql as $$ select 1 $$;\n"
    )
    (migrations_copy / "repeatable" / "zzz_broken.sql").write_text("select 1;\nselect 1 +;\n")

    with pytest.raises(MigrationFailed) as failed:
        await migrate(dsn, migrations_copy)

    assert str(failed.value).startswith('repeatable/zzz_broken.sql line 2: syntax error at or near ";"')
    assert str(failed.value).endswith("(no repeatable file was applied)")
    assert await _fetch(dsn, "select to_regprocedure('public.repeatable_probe()') as f") == [{"f": None}]
    assert await _fetch(dsn, "select name from schema_repeatables where name = 'aaa_first.sql'") == []


async def test_a_new_versioned_file_is_applied_and_protected_like_the_rest(pg_dsn, migrations_copy):
    dsn = await scratch_database(pg_dsn, "added")
    await migrate(dsn, migrations_copy)
    (migrations_copy / "0002_notes.sql").write_text("create table public.notes (id integer primary key);\n")

    applied = await migrate(dsn, migrations_copy)
    # A versioned file may drop what a repeatable made, so every repeatable runs again after one.
    assert applied == ["0002_notes"] + [f"repeatable/{p.name}" for p in repeatable_files(migrations_copy)]
    rows = await _fetch(
        dsn,
        "select c.relrowsecurity, has_table_privilege('anon', c.oid, 'select') as anon, "
        "has_table_privilege('service_role', c.oid, 'select') as service, "
        "(select count(*) from pg_policies p where p.tablename = 'notes') as policies "
        "from pg_class c where c.oid = 'public.notes'::regclass",
    )
    assert rows == [{"relrowsecurity": True, "anon": False, "service": True, "policies": 1}]
    assert await migrate(dsn, migrations_copy) == []


async def test_an_edited_repeatable_file_is_reapplied_with_its_grants(pg_dsn, migrations_copy):
    dsn = await scratch_database(pg_dsn, "repeat")
    await migrate(dsn, migrations_copy)
    runs = migrations_copy / "repeatable" / "runs.sql"
    runs.write_text(
        runs.read_text() + "\ncreate or replace function public.edited_probe()\nreturns table (a integer, b integer)\n"
        "language sql stable security invoker set search_path = ''\nas $$ select 1, 2; $$;\n"
        "comment on function public.health_check() is 'edited';\n"
    )

    assert await migrate(dsn, migrations_copy) == ["repeatable/runs.sql", "repeatable/grants.sql"]
    rows = await _fetch(
        dsn,
        "select obj_description('public.health_check()'::regprocedure, 'pg_proc') as note, "
        "has_function_privilege('anon', 'public.edited_probe()', 'execute') as anon, "
        "has_function_privilege('service_role', 'public.edited_probe()', 'execute') as service",
    )
    assert rows == [{"note": "edited", "anon": False, "service": True}]
    assert await migrate(dsn, migrations_copy) == []


async def test_reapplying_every_repeatable_keeps_functions_and_their_callers(pg_dsn):
    """create or replace: the same function objects (a prepared call keeps working) and the same grants."""
    dsn = await scratch_database(pg_dsn, "replay")
    await migrate(dsn)
    query = (
        "select p.oid, p.oid::regprocedure::text as signature, p.proacl::text as acl from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace order by 2"
    )
    before = await _fetch(dsn, query)
    connection = await asyncpg.connect(dsn)
    try:
        health = await connection.prepare("select * from public.health_check()")
        await connection.execute("truncate public.schema_repeatables")
        assert await migrate(dsn) == [f"repeatable/{p.name}" for p in repeatable_files()]
        assert (await health.fetchrow())["ok"] is True
    finally:
        await connection.close()
    assert await _fetch(dsn, query) == before


async def test_a_database_migrated_before_manage_sql_was_split_migrates_after_it(pg_dsn, migrations_copy):
    """repeatable/manage.sql became manage_jobs, manage_requests and manage_runs (the same statements).

    The old file set is rebuilt as one manage.sql from the three, in name order: what the database got from
    the old file is what the new files hold. After the split the new files run (they replace the same
    objects: same oids, same grants, same schema), the gone file's record is dropped, and going back to
    the old file set applies manage.sql again rather than skipping it as known.
    """
    repeatable = migrations_copy / "repeatable"
    split = {path.name: path.read_text() for path in sorted(repeatable.glob("manage_*.sql"))}
    assert sorted(split) == ["manage_jobs.sql", "manage_requests.sql", "manage_runs.sql"]

    def old_file_set() -> None:
        for name in split:
            (repeatable / name).unlink()
        (repeatable / "manage.sql").write_text("".join(split.values()))

    def new_file_set() -> None:
        (repeatable / "manage.sql").unlink()
        for name, text in split.items():
            (repeatable / name).write_text(text)

    old_file_set()
    dsn = await scratch_database(pg_dsn, "split")
    assert "repeatable/manage.sql" in await migrate(dsn, migrations_copy)
    query = (
        "select p.oid, p.oid::regprocedure::text as signature, p.proacl::text as acl from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace order by 2"
    )
    functions, dump = await _fetch(dsn, query), schema_dump(dsn)

    new_file_set()
    applied = await migrate(dsn, migrations_copy)
    assert applied == [f"repeatable/{name}" for name in split] + ["repeatable/grants.sql"]
    recorded = await _fetch(dsn, "select name from schema_repeatables order by name")
    assert [r["name"] for r in recorded] == sorted(p.name for p in repeatable_files(migrations_copy))
    assert await _fetch(dsn, query) == functions
    assert schema_dump(dsn) == dump
    page = await _fetch(dsn, "select json_array_length(jobs) as n from public.ops_list_jobs()")
    assert page == [{"n": len(vercel_crons())}]
    assert await migrate(dsn, migrations_copy) == []

    old_file_set()
    assert await migrate(dsn, migrations_copy) == ["repeatable/manage.sql", "repeatable/grants.sql"]
    recorded = await _fetch(dsn, "select name from schema_repeatables where name like 'manage%'")
    assert [r["name"] for r in recorded] == ["manage.sql"]


async def test_a_database_on_the_pre_baseline_layout_records_the_baseline(pg_dsn):
    dsn = await scratch_database(pg_dsn, "legacy")
    await apply_pre_baseline(dsn)

    applied = await migrate(dsn)
    # Versioned files after the baseline apply on top of it, as on any database.
    later = [p.stem for p in migration_files() if p.stem != "0001_baseline"]
    assert applied == ["0001_baseline", *later] + [f"repeatable/{p.name}" for p in repeatable_files()]
    versions = [r["version"] for r in await _fetch(dsn, "select version from schema_migrations order by version")]
    assert versions == sorted(["0001_baseline", "0001_tables", "0002_runs", "0003_agents", "0004_reminders",
                               "0005_run_requests", "0006_schedule", *later])  # fmt: skip
    assert await migrate(dsn) == []


async def test_a_partly_migrated_pre_baseline_database_is_refused(pg_dsn):
    dsn = await scratch_database(pg_dsn, "partial")
    await apply_pre_baseline(dsn, versions=4)

    with pytest.raises(MigrationError) as refused:
        await migrate(dsn)
    assert "0005_run_requests, 0006_schedule" in str(refused.value)
    versions = [r["version"] for r in await _fetch(dsn, "select version from schema_migrations order by version")]
    assert "0001_baseline" not in versions
