"""`python -m lib migrate`: apply migrations/*.sql in order, record them, sync builtin jobs.

Each file runs in its own transaction. A file already recorded with the same
checksum is skipped, so running migrate twice is a no-op. The files are
idempotent, so a file edited since it was applied is simply applied again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
VERCEL_JSON = ROOT / "vercel.json"
# Any constant works; it keeps two concurrent migrates from interleaving.
_MIGRATE_LOCK = 0x63726F6E  # "cron"


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def vercel_crons() -> list[tuple[str, str]]:
    """(job name, schedule) for every cron in vercel.json."""
    config = json.loads(VERCEL_JSON.read_text())
    crons = []
    for cron in config.get("crons", []):
        job = cron["path"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        crons.append((job, cron["schedule"]))
    return crons


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; return the versions applied in this call."""
    connection = await asyncpg.connect(dsn, statement_cache_size=0)
    applied: list[str] = []
    try:
        await connection.execute("select pg_advisory_lock($1)", _MIGRATE_LOCK)
        known = await _applied_checksums(connection)
        for path in migration_files():
            sql = path.read_text()
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            version = path.stem
            if known.get(version) == checksum:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(
                    "insert into public.schema_migrations (version, checksum) values ($1, $2) "
                    "on conflict (version) do update set checksum = excluded.checksum, applied_at = now()",
                    version,
                    checksum,
                )
            applied.append(version)
        for job, schedule in vercel_crons():
            await connection.execute("select public.upsert_builtin_job($1, $2)", job, schedule)
    finally:
        try:
            await connection.execute("select pg_advisory_unlock($1)", _MIGRATE_LOCK)
        finally:
            await connection.close()
    return applied


async def _applied_checksums(connection: asyncpg.Connection) -> dict[str, str]:
    exists = await connection.fetchval("select to_regclass('public.schema_migrations') is not null")
    if not exists:
        return {}
    rows = await connection.fetch("select version, checksum from public.schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}
