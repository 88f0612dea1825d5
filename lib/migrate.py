"""`python -m lib migrate`: apply migrations/, record them, sync builtin jobs, make the week's heartbeat partitions.

Flyway's rule (docs/migrations.md):
- versioned files, `migrations/NNNN_name.sql`, create or alter tables, indexes,
  types, policies and roles. Each runs once, in its own transaction, and is
  recorded with its checksum in `schema_migrations`. Once applied it is
  frozen: a changed checksum makes migrate refuse to run at all.
- repeatable files, `migrations/repeatable/<concern>.sql`, hold only
  `create or replace` functions, views, triggers and grants. They run after
  the versioned files, in name order with `grants.sql` last, whenever their
  checksum differs from the one recorded in `schema_repeatables`. After any
  versioned file every repeatable runs again (a versioned file may drop a
  view or function in its way), and `grants.sql` runs whenever anything ran.
  They run in one transaction, so a new function is never callable before
  its grants are in place. A repeatable file that is gone (split or renamed)
  loses its record; what it created stays until a file drops it.

A database on the pre-baseline layout (0001_tables ... 0006_schedule, whose end
state is what 0001_baseline creates) is recognised by those versions and their
checksums: the baseline is recorded as applied and the repeatables re-applied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg

from lib import pgconn
from lib.pgconn import Connection

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
VERCEL_JSON = ROOT / "vercel.json"
# Any constant works; it keeps two concurrent migrates from interleaving.
_MIGRATE_LOCK = 0x63726F6E  # "cron"

BASELINE = "0001_baseline"
GRANTS = "grants.sql"
# The layout before the baseline, as migrate last applied it (commit 1777ad0):
# version -> checksum. Its end state is exactly what BASELINE creates.
PRE_BASELINE = {
    "0001_tables": "9101d8068e9aaa7339c26ed7506fe549eeb7f1941c1d7a90987e39f1397bdc05",
    "0002_runs": "cc633eac043e291e39ea90a52c6a15e6f5cec13f5230a1bdd1ffa99426533b71",
    "0003_agents": "8616c434da5d1576878b25fea3a1d9eb459c1846dee4da518ca26559a2004420",
    "0004_reminders": "897f8e6af933e452fb733414ffbebf41ad75baa0237d20c6627f90f983e47705",
    "0005_run_requests": "ef1e72549253208c5f0682296750790dad0d83e95e948b9ccea6d77150adee8a",
    "0006_schedule": "1cca9e9cdaf49d8620eef93a46de38d7256db7ce248ce5f119b14f5fc2263fc4",
}

# migrate's own bookkeeping, the same on every database (grants.sql protects
# them like any other table).
_BOOKKEEPING = """
create table if not exists public.schema_migrations (
  version    text primary key,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
create table if not exists public.schema_repeatables (
  name       text primary key,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
"""
_RECORD_VERSIONED = (
    "insert into public.schema_migrations (version, checksum) values ($1, $2) "
    "on conflict (version) do update set checksum = excluded.checksum, applied_at = now()"
)
_RECORD_REPEATABLE = (
    "insert into public.schema_repeatables (name, checksum) values ($1, $2) "
    "on conflict (name) do update set checksum = excluded.checksum, applied_at = now()"
)

_FORGET_REPEATABLES = "delete from public.schema_repeatables where name <> all($1::text[])"


class MigrationError(Exception):
    """The database and migrations/ disagree in a way migrate must not paper over."""


class MigrationFailed(Exception):
    """A file's SQL failed in the database; its transaction (and what it held) was rolled back."""


def migration_files(directory: Path = MIGRATIONS) -> list[Path]:
    """The versioned files, in version order."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def repeatable_files(directory: Path = MIGRATIONS) -> list[Path]:
    """The repeatable files, in name order, grants.sql last."""
    return sorted((directory / "repeatable").glob("*.sql"), key=lambda path: (path.name == GRANTS, path.name))


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_text().encode()).hexdigest()


def vercel_crons() -> list[tuple[str, str]]:
    """(job name, schedule) for every cron in vercel.json."""
    config = json.loads(VERCEL_JSON.read_text())
    crons = []
    for cron in config.get("crons", []):
        job = cron["path"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        crons.append((job, cron["schedule"]))
    return crons


async def migrate(dsn: str, directory: Path = MIGRATIONS) -> list[str]:
    """Apply what is pending; return what was applied in this call (versions, then `repeatable/<file>`)."""
    connection = await pgconn.connect(dsn)
    try:
        await pgconn.execute(connection, "select pg_advisory_lock($1)", _MIGRATE_LOCK)
        applied = await _migrate(connection, directory)
        for job, schedule in vercel_crons():
            await pgconn.execute(connection, "select public.upsert_builtin_job($1, $2)", job, schedule)
        await _make_heartbeat_partitions(connection)
    finally:
        try:
            await pgconn.execute(connection, "select pg_advisory_unlock($1)", _MIGRATE_LOCK)
        finally:
            await connection.close()
    return applied


async def _migrate(connection: Connection, directory: Path) -> list[str]:
    await pgconn.execute(connection, _BOOKKEEPING)
    versioned = migration_files(directory)
    known = await _recorded(connection, "select version as key, checksum from public.schema_migrations")
    applied = await _adopt_pre_baseline(connection, known, versioned)
    _refuse_edited(versioned, known)

    for path in versioned:
        if path.stem in known:
            continue
        async with connection.transaction():
            await _run_file(connection, path.read_text(), path.name, "nothing of it was applied")
            await pgconn.execute(connection, _RECORD_VERSIONED, path.stem, checksum(path))
        applied.append(path.stem)

    repeatables = repeatable_files(directory)
    recorded = await _recorded(connection, "select name as key, checksum from public.schema_repeatables")
    due = [p for p in repeatables if applied or recorded.get(p.name) != checksum(p)]
    if due and due[-1].name != GRANTS:
        due += [p for p in repeatables if p.name == GRANTS]
    async with connection.transaction():
        for path in due:
            await _run_file(connection, path.read_text(), f"repeatable/{path.name}", "no repeatable file was applied")
            await pgconn.execute(connection, _RECORD_REPEATABLE, path.name, checksum(path))
        # A file split or renamed away leaves its row behind; dropped, so the table lists what is applied
        # from migrations/ now, and the file coming back (a rollback) is applied again, not skipped as known.
        await pgconn.execute(connection, _FORGET_REPEATABLES, [path.name for path in repeatables])
    return applied + [f"repeatable/{path.name}" for path in due]


async def _run_file(connection: Connection, text: str, name: str, rolled_back: str) -> None:
    """One file's SQL, as one multi-statement text; a failure names the file and the line the server points at."""
    try:
        await pgconn.execute(connection, text)
    except psycopg.Error as error:
        # The server's position counts characters from 1 across the whole text.
        position = int(error.diag.statement_position or 0)
        line = text.count("\n", 0, position - 1) + 1
        where = f"{name} line {line}" if position else name
        raise MigrationFailed(f"{where}: {pgconn.error_text(error)} ({rolled_back})") from error


async def _adopt_pre_baseline(connection: Connection, known: dict[str, str], versioned: list[Path]) -> list[str]:
    """Record the baseline on a database migrated with the pre-baseline files; it already has that schema."""
    if BASELINE in known or not PRE_BASELINE.keys() & known.keys():
        return []
    stale = sorted(v for v, sha in PRE_BASELINE.items() if known.get(v) != sha)
    if stale:
        raise MigrationError(
            "this database was migrated with an older pre-baseline layout "
            f"({', '.join(stale)} missing or different from their last version); run `python -m lib migrate` "
            "from commit 1777ad0 first, or start from an empty database"
        )
    baseline = next(p for p in versioned if p.stem == BASELINE)
    await pgconn.execute(connection, _RECORD_VERSIONED, BASELINE, checksum(baseline))
    known[BASELINE] = checksum(baseline)
    return [BASELINE]


async def _make_heartbeat_partitions(connection: Connection) -> None:
    """Today's heartbeat partition and the week's ahead, so beats never wait for cleanup-heartbeats in the default.

    Dropping nothing (no retention given); a migrations/ without the function (an older copy) skips it.
    """
    if await pgconn.fetchval(connection, "select to_regproc('public.heartbeat_partitions')"):
        await pgconn.execute(connection, "select public.heartbeat_partitions(null, 7)")


def _refuse_edited(versioned: list[Path], known: dict[str, str]) -> None:
    edited = [p.name for p in versioned if p.stem in known and known[p.stem] != checksum(p)]
    if edited:
        raise MigrationError(
            f"migrations/{', migrations/'.join(edited)} changed since it was applied (checksum differs); "
            "versioned migrations are frozen once applied: restore the file and add a new migration "
            "instead of editing an applied one"
        )


async def _recorded(connection: Connection, query: str) -> dict[str, str]:
    rows = await pgconn.fetch(connection, query)
    return {row["key"]: row["checksum"] for row in rows}


async def pending(dsn: str, directory: Path = MIGRATIONS) -> list[str]:
    """What `migrate` would apply to dsn now (versions, then `repeatable/<file>`), read only: for `doctor`."""
    connection = await pgconn.connect(dsn, timeout_seconds=15)
    try:
        if not await pgconn.fetchval(connection, "select to_regclass('public.schema_repeatables') is not null"):
            return [path.stem for path in migration_files(directory)] + [
                f"repeatable/{path.name}" for path in repeatable_files(directory)
            ]
        known = await _recorded(connection, "select version as key, checksum from public.schema_migrations")
        recorded = await _recorded(connection, "select name as key, checksum from public.schema_repeatables")
    finally:
        await connection.close()
    versions = [path.stem for path in migration_files(directory) if known.get(path.stem) != checksum(path)]
    changed = [f"repeatable/{p.name}" for p in repeatable_files(directory) if recorded.get(p.name) != checksum(p)]
    return versions + changed
