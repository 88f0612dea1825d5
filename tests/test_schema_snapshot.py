"""The schema migrate builds, pinned: a fresh database and one upgraded from the
pre-baseline layout both dump exactly tests/schema.sql.

After an intended schema change, refresh the snapshot and review its diff:

    CRONRELAY_UPDATE_SNAPSHOT=1 python3 dev.py test tests/test_schema_snapshot.py
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path

from lib.migrate import PRE_BASELINE, migrate
from tests.databases import PRE_BASELINE as PRE_BASELINE_FILES
from tests.databases import apply_pre_baseline, schema_dump, scratch_database

SNAPSHOT = Path(__file__).resolve().parent / "schema.sql"
REFRESH = "CRONRELAY_UPDATE_SNAPSHOT=1 python3 dev.py test tests/test_schema_snapshot.py"


def _assert_matches_snapshot(dump: str, what: str) -> None:
    if os.environ.get("CRONRELAY_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(dump)
        return
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if dump != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), dump.splitlines(keepends=True), "tests/schema.sql", what, n=2
            )
        )
        raise AssertionError(
            f"the schema of {what} differs from tests/schema.sql. If the change is intended, refresh the "
            f"snapshot with `{REFRESH}` and commit it with the migration.\n{diff}"
        )


async def test_a_fresh_database_matches_the_snapshot(pg_dsn):
    dsn = await scratch_database(pg_dsn, "snapshot_fresh")
    await migrate(dsn)
    _assert_matches_snapshot(schema_dump(dsn), "a database migrated from scratch")


async def test_a_database_upgraded_from_the_pre_baseline_layout_matches_the_snapshot(pg_dsn):
    dsn = await scratch_database(pg_dsn, "snapshot_upgraded")
    await apply_pre_baseline(dsn)
    await migrate(dsn)
    dump = schema_dump(dsn)
    if os.environ.get("CRONRELAY_UPDATE_SNAPSHOT") == "1":
        fresh = await scratch_database(pg_dsn, "snapshot_check")
        await migrate(fresh)
        assert dump == schema_dump(fresh), "an upgraded database differs from a fresh one: fix the migrations"
        return
    _assert_matches_snapshot(dump, "a database upgraded from the pre-baseline layout")


def test_the_pre_baseline_fixture_is_what_migrate_recognises():
    """tests/fixtures/pre_baseline is the layout migrate adopts, byte for byte."""
    files = {p.stem: hashlib.sha256(p.read_text().encode()).hexdigest() for p in PRE_BASELINE_FILES.glob("*.sql")}
    assert files == PRE_BASELINE
