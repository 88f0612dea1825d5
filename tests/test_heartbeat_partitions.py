"""Heartbeats partitioned by day (DESIGN.md Scale): partitions made ahead, whole days dropped past
retention, the straddling day trimmed in batches, the default partition, the upkeep as service_role,
and the in-place conversion of a populated plain table."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from lib.db.queries.heartbeats import maintain_heartbeat_partitions
from lib.jobs import cleanup_heartbeats
from lib.migrate import MIGRATIONS, migrate
from tests.conftest import AUTH, app_client
from tests.databases import scratch_database
from tests.factories import add_agent

AGENT = "00000000-0000-0000-0000-0000000000a1"
# Each row's partition, by name, next to the partition its UTC day should have.
WHERE_ROWS_ARE = """
select h.tableoid::regclass::text as partition,
       'heartbeats_p' || to_char(h.created_at at time zone 'UTC', 'YYYYMMDD') as day
  from heartbeats h
"""


async def _partition_for(sql: asyncpg.Connection, offset: str) -> str:
    """The name of the daily partition for the UTC day `offset` (an interval) from now."""
    query = "select 'heartbeats_p' || to_char((now() + $1::text::interval) at time zone 'UTC', 'YYYYMMDD')"
    return str(await sql.fetchval(query, offset))


async def _beats_per_day(sql: asyncpg.Connection, days: range, per_day: int) -> None:
    """`per_day` beats on each UTC day `d` days ago, in its first seconds (so before now on that day)."""
    await sql.execute(
        """
        insert into heartbeats (agent_id, created_at)
        select $1::uuid, date_trunc('day', now() - d * interval '1 day', 'UTC') + i * interval '1 second'
          from generate_series($2::int, $3::int) d, generate_series(1, $4::int) i
        """,
        AGENT,
        days.start,
        days.stop - 1,
        per_day,
    )


async def test_partitions_are_made_ahead_and_each_day_lands_in_its_own(make_settings, sql, db):
    await add_agent(sql, agent_id=AGENT)
    async with app_client(make_settings(heartbeat_retention_days=10)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok", body
    ranges = await sql.fetch("select * from _heartbeat_partition_ranges() where not is_default order by lower_bound")
    names = {r["partition_name"] for r in ranges}
    # From the cutoff's day to a week ahead, every day has a partition of exactly one UTC day.
    for offset in ["-10 days", "-3 days", "0 days", "7 days"]:
        assert await _partition_for(sql, offset) in names, offset
    daily = [r for r in ranges if r["partition_name"].startswith("heartbeats_p")]
    assert all((r["upper_bound"] - r["lower_bound"]).total_seconds() == 86400 for r in daily)

    await _beats_per_day(sql, range(0, 10), per_day=3)
    await sql.fetchrow("select * from record_heartbeat($1::uuid, '{}'::jsonb)", AGENT)
    rows = await sql.fetch(WHERE_ROWS_ARE)
    assert len(rows) == 31
    assert all(r["partition"] == r["day"] for r in rows), [dict(r) for r in rows if r["partition"] != r["day"]]
    # record_heartbeat wrote into today's partition.
    today = await _partition_for(sql, "0 days")
    assert await sql.fetchval(f"select count(*) from {today}") == 4


async def test_cleanup_drops_whole_days_and_trims_the_one_that_straddles(make_settings, sql, db):
    await add_agent(sql, agent_id=AGENT)
    async with app_client(make_settings(heartbeat_retention_days=14)) as http:
        await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)
    await _beats_per_day(sql, range(0, 15), per_day=4)
    cutoff = "now() - interval '5 days'"
    straddling = await _partition_for(sql, "-5 days")
    # The straddling day's rows older than the cutoff: its first seconds, so there are some whatever the hour.
    trimmed = await sql.fetchval(f"select count(*) from {straddling} where created_at < {cutoff}")
    kept = await sql.fetchval(f"select count(*) from heartbeats where created_at >= {cutoff}")
    whole_days = await sql.fetchval(
        f"select count(*) from _heartbeat_partition_ranges() where not is_default and upper_bound <= {cutoff}"
    )
    assert trimmed == 4 and whole_days >= 9

    async with app_client(make_settings(heartbeat_retention_days=5)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok", body
    assert body["stats"]["partitions_dropped"] == whole_days
    assert body["stats"]["deleted"] == trimmed  # only the straddling day's rows went one by one
    assert body["has_more"] is False
    assert await sql.fetchval(f"select count(*) from heartbeats where created_at < {cutoff}") == 0
    assert await sql.fetchval("select count(*) from heartbeats") == kept
    assert await sql.fetchval(f"select to_regclass('public.{straddling}') is not null")
    assert (
        await sql.fetchval(
            f"select count(*) from _heartbeat_partition_ranges() where not is_default and upper_bound <= {cutoff}"
        )
        == 0
    )


EXPIRED_SIZES = """
select pg_total_relation_size(format('public.%I', partition_name)::regclass) as bytes
  from _heartbeat_partition_ranges()
 where not is_default and upper_bound <= now() - make_interval(days => $1)
 order by upper_bound
"""


async def test_a_call_drops_at_most_its_megabytes_of_days_and_commits_them(pg_dsn, sql, db):
    """A drop holds heartbeats' ACCESS EXCLUSIVE lock until its transaction has freed the files, so a call
    frees a bounded size of days (the oldest whatever its size), and the job calls again for the rest."""
    await add_agent(sql, agent_id=AGENT)
    await maintain_heartbeat_partitions(db, retention_days=20, days_ahead=1)
    await _beats_per_day(sql, range(11, 20), per_day=6000)  # about 1 MB a day with its indexes
    sizes = [row["bytes"] for row in await sql.fetch(EXPIRED_SIZES, 10)]
    assert len(sizes) >= 9 and max(sizes) > 1048576, sizes
    # What a 2 MB bound lets each call drop, worked out from the sizes: greedily, oldest first, at least one.
    expected: list[int] = []
    room = 0
    for size in sizes:
        if expected and room + size <= 2 * 1048576:
            expected[-1] += 1
            room += size
        else:
            expected.append(1)
            room = size

    calls = [await maintain_heartbeat_partitions(db, retention_days=10, days_ahead=1, drop_megabytes=2)]
    # Committed as the call returned: another connection sees those days gone, and writes a beat at once.
    other = await asyncpg.connect(pg_dsn)
    try:
        await other.execute("set lock_timeout = '1s'")
        assert len(await other.fetch(EXPIRED_SIZES, 10)) == len(sizes) - calls[0].dropped
        await other.fetchrow("select * from record_heartbeat($1::uuid, '{}'::jsonb)", AGENT)
    finally:
        await other.close()
    while calls[-1].left_to_drop:
        calls.append(await maintain_heartbeat_partitions(db, retention_days=10, days_ahead=1, drop_megabytes=2))
    assert [c.dropped for c in calls] == expected and 1 < len(expected) < len(sizes)
    assert [c.left_to_drop for c in calls] == [len(sizes) - sum(expected[: i + 1]) for i in range(len(expected))]
    assert await sql.fetch(EXPIRED_SIZES, 10) == []
    # The default bound (1 GB) takes days this small all at once.
    await _beats_per_day(sql, range(5, 8), per_day=10)
    small = len(await sql.fetch(EXPIRED_SIZES, 4))
    done = await maintain_heartbeat_partitions(db, retention_days=4, days_ahead=1)
    assert (done.dropped, done.left_to_drop, done.busy) == (small, 0, False) and small >= 5


async def test_a_budget_spent_among_whole_days_leaves_their_rows_for_the_next_run(make_settings, sql, db, monkeypatch):
    """Rows of a day still to be dropped are never deleted one by one: the next run drops the day."""
    monkeypatch.setattr(cleanup_heartbeats, "DROP_MEGABYTES", 0)  # a day per call, as with gigabyte days
    await add_agent(sql, agent_id=AGENT)
    await maintain_heartbeat_partitions(db, retention_days=20, days_ahead=1)
    await _beats_per_day(sql, range(0, 21), per_day=3)
    before = await sql.fetchval("select count(*) from heartbeats")
    oldest = await sql.fetchval(
        "select partition_name from _heartbeat_partition_ranges()"
        " where not is_default and upper_bound <= now() - interval '10 days' order by upper_bound limit 1"
    )
    in_oldest = await sql.fetchval(f"select count(*) from {oldest}")

    async with app_client(make_settings(heartbeat_retention_days=10, run_time_budget_seconds=0.000001)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "partial", body
    assert (body["stats"]["partitions_dropped"], body["stats"]["deleted"], body["has_more"]) == (1, 0, True)
    assert await sql.fetchval(f"select to_regclass('public.{oldest}')") is None
    assert await sql.fetchval("select count(*) from heartbeats") == before - in_oldest

    async with app_client(make_settings(heartbeat_retention_days=10)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok" and body["has_more"] is False, body
    assert await sql.fetchval("select count(*) from heartbeats where created_at < now() - interval '10 days'") == 0


async def test_a_beat_for_a_day_without_a_partition_lands_in_the_default_and_is_not_lost(settings, sql, db):
    await add_agent(sql, agent_id=AGENT)
    far = await _partition_for(sql, "25 days")
    await sql.execute(f"drop table if exists {far}")  # an earlier test may have made it
    await maintain_heartbeat_partitions(db, retention_days=30, days_ahead=7)
    await sql.execute(
        "insert into heartbeats (agent_id, created_at) values ($1, now() + interval '25 days'), "
        "($1, now() - interval '400 days')",
        AGENT,
    )
    assert await sql.fetchval("select count(*) from heartbeats_default") == 2

    past = await _partition_for(sql, "-10 days")
    await sql.execute(f"drop table if exists {past}")
    # Making partitions over that day leaves it in the default (moving rows is not upkeep's job)...
    done = await maintain_heartbeat_partitions(db, retention_days=30, days_ahead=31)
    assert done.busy is False
    assert await sql.fetchval(f"select to_regclass('public.{far}')") is None
    # ...and no past day is made while the default holds rows (each would scan it).
    assert await sql.fetchval(f"select to_regclass('public.{past}')") is None
    assert await sql.fetchval("select count(*) from heartbeats_default") == 2
    # ...while the days around it got theirs.
    assert await sql.fetchval(f"select to_regclass('public.{await _partition_for(sql, '26 days')}') is not null")
    # The year-old beat goes with the batches; the future one stays.
    assert await sql.fetchval("select deleted from delete_expired_heartbeats(30, 100)") == 1
    assert await sql.fetchval("select count(*) from heartbeats") == 1


async def test_upkeep_runs_as_service_role_through_each_adapter(pg_dsn, settings, sql, db):
    """The adapters call it as service_role (the stand-in sets the role; the postgres adapter here logs in
    as it), which may not make or drop a partition itself: the function's owner does."""
    from lib.db.postgres import PostgresDatabase

    old = await _partition_for(sql, "-40 days")
    # Through the stand-in the call runs as service_role; through the postgres adapter, log in as it
    # (libpq's `options`, which sets `role` for the session).
    database = db if settings.supabase_url else PostgresDatabase(f"{pg_dsn}&options=-c%20role%3Dservice_role")
    try:
        first = await maintain_heartbeat_partitions(database, retention_days=45, days_ahead=3)
        assert await sql.fetchval(f"select to_regclass('public.{old}') is not null")
        owner = await sql.fetchval(
            f"select pg_get_userbyid(relowner) from pg_class where oid = 'public.{old}'::regclass"
        )
        assert owner == await sql.fetchval("select current_user")  # the migration's role, not service_role
        assert first.busy is False
        # With no room for a second day, one day per call, oldest first, until none is left.
        calls = [await maintain_heartbeat_partitions(database, retention_days=30, days_ahead=3, drop_megabytes=0)]
        while calls[-1].left_to_drop:
            calls.append(
                await maintain_heartbeat_partitions(database, retention_days=30, days_ahead=3, drop_megabytes=0)
            )
        assert len(calls) >= 10 and all((c.dropped, c.created, c.busy) == (1, 0, False) for c in calls)
        assert [c.left_to_drop for c in calls] == list(range(len(calls) - 1, -1, -1))
        assert await sql.fetchval(f"select to_regclass('public.{old}')") is None
    finally:
        if database is not db:
            await database.close()

    # The new partition follows every table's rules: RLS, service_role's policy, nothing for anon.
    today = await _partition_for(sql, "0 days")
    assert await sql.fetchval(f"select relrowsecurity from pg_class where oid = 'public.{today}'::regclass")
    assert await sql.fetchval(f"select has_table_privilege('anon', 'public.{today}', 'select')") is False
    # service_role itself may not do the DDL the function does for it.
    transaction = sql.transaction()
    await transaction.start()
    try:
        await sql.execute("set local role service_role")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await sql.execute(f"drop table public.{today}")
    finally:
        await transaction.rollback()


async def test_a_table_held_by_a_long_query_is_reported_busy_and_left_for_the_next_run(pg_dsn, sql, db):
    """Dropping a partition waits for every query on heartbeats and holds every beat up meanwhile, so
    the upkeep gives up after its lock_timeout (2 s) instead of queueing; the next run does it."""
    await maintain_heartbeat_partitions(db, retention_days=20, days_ahead=1)
    old = await _partition_for(sql, "-15 days")
    reader = await asyncpg.connect(pg_dsn)
    try:
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetchval("select count(*) from heartbeats")  # holds its locks until the rollback
        busy = await maintain_heartbeat_partitions(db, retention_days=10, days_ahead=1)
        assert (busy.busy, busy.dropped, busy.created) == (True, 0, 0)
        assert await sql.fetchval(f"select to_regclass('public.{old}') is not null")
        await transaction.rollback()
    finally:
        await reader.close()
    done = await maintain_heartbeat_partitions(db, retention_days=10, days_ahead=1)
    assert (done.busy, done.left_to_drop) == (False, 0) and done.dropped >= 5
    assert await sql.fetchval(f"select to_regclass('public.{old}')") is None


async def test_migrate_makes_today_and_the_week_ahead_and_drops_nothing(pg_dsn, sql):
    """So beats never wait in the default partition for the first cleanup run (each partition made later
    would scan the default), and a migrate never deletes a heartbeat."""
    old = await _partition_for(sql, "-3 days")
    await sql.execute("select * from heartbeat_partitions(5, 0)")  # makes -5 .. today
    await sql.execute(f"drop table if exists {await _partition_for(sql, '7 days')}")
    assert await migrate(pg_dsn) == []
    for offset in ["0 days", "7 days"]:
        assert await sql.fetchval(f"select to_regclass('public.{await _partition_for(sql, offset)}') is not null")
    assert await sql.fetchval(f"select to_regclass('public.{old}') is not null")


async def test_upkeep_refuses_nonsense_arguments(sql):
    with pytest.raises(asyncpg.InvalidParameterValueError, match="retention"):
        await sql.fetch("select * from heartbeat_partitions(0, 7)")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="days ahead"):
        await sql.fetch("select * from heartbeat_partitions(30, 400)")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="megabytes"):
        await sql.fetch("select * from heartbeat_partitions(30, 7, -1)")


@pytest.fixture
def without_partitions(tmp_path: Path) -> Path:
    """migrations/ as it was before heartbeats were partitioned."""
    copy = Path(shutil.copytree(MIGRATIONS, tmp_path / "migrations"))
    (copy / "0007_heartbeat_partitions.sql").unlink()
    (copy / "repeatable" / "heartbeat_partitions.sql").unlink()
    return copy


FINGERPRINT = """
select count(*) as rows, coalesce(sum(h.id), 0) as ids,
       md5(string_agg(concat_ws('|', h.id, h.agent_id, h.created_at, h.payload), ',' order by h.id)) as digest
  from public.heartbeats h
"""


async def test_a_populated_plain_table_is_converted_in_place_without_losing_a_row(pg_dsn, without_partitions):
    dsn = await scratch_database(pg_dsn, "heartbeats_convert")
    await migrate(dsn, without_partitions)
    connection = await asyncpg.connect(dsn)
    try:
        assert (
            await connection.fetchval("select relkind from pg_class where oid = 'public.heartbeats'::regclass") == b"r"
        )
        await connection.execute(
            "insert into agents (id, name) select gen_random_uuid(), 'a' || g from generate_series(1, 20) g"
        )
        # 40 days of beats (some past a 30-day retention), 5,000 rows.
        await connection.execute(
            """
            insert into heartbeats (agent_id, created_at, payload)
            select (array(select id from agents order by name))[1 + g % 20],
                   now() - (g % 40) * interval '1 day' - g * interval '1 second', jsonb_build_object('g', g)
              from generate_series(1, 5000) g
            """
        )
        before = await connection.fetchrow(FINGERPRINT)
        await connection.close()

        applied = await migrate(dsn)
        assert "0007_heartbeat_partitions" in applied
        connection = await asyncpg.connect(dsn)
        assert await connection.fetchrow(FINGERPRINT) == before
        assert before["rows"] == 5000
        assert (
            await connection.fetchval("select relkind from pg_class where oid = 'public.heartbeats'::regclass") == b"p"
        )
        # The old rows are one partition; no row was copied into the default.
        assert await connection.fetchval("select count(*) from heartbeats_legacy") == 5000
        assert await connection.fetchval("select count(*) from heartbeats_default") == 0
        # id keeps counting from the old table's highest.
        beat = await connection.fetchrow(
            "select * from record_heartbeat((select id from agents order by name limit 1), '{}'::jsonb)"
        )
        assert beat["heartbeat_id"] == 5001
        # Retention still reaches the old rows: the batches trim them, the upkeep drops nothing yet.
        # migrate made the days after the old rows' partition; nothing is old enough to drop yet.
        assert await connection.fetchval(f"select to_regclass('public.{await _partition_for(connection, '1 day')}')")
        upkeep = await connection.fetchrow("select * from heartbeat_partitions(30, 7)")
        assert (upkeep["dropped"], upkeep["created"]) == (0, 0)
        expired = await connection.fetchval(
            "select count(*) from heartbeats where created_at < now() - interval '30 days'"
        )
        assert expired > 0
        assert await connection.fetchval("select deleted from delete_expired_heartbeats(30, 100000)") == expired
        assert await connection.fetchval("select count(*) from heartbeats") == 5001 - expired
        # The foreign key still cascades from agents, into every partition.
        await connection.execute("delete from agents")
        assert await connection.fetchval("select count(*) from heartbeats") == 0
        # Every partition, the old one included, keeps row level security.
        assert await connection.fetchval(
            "select bool_and(relrowsecurity) from pg_class where relname like 'heartbeats%' and relkind in ('r', 'p')"
        )
        # Running migrate again changes nothing.
        assert await migrate(dsn) == []
        await connection.close()
    finally:
        if not connection.is_closed():
            await connection.close()


DOCS = Path(__file__).resolve().parent.parent / "docs" / "heartbeats.md"


async def test_the_docs_sql_examples_run_as_written(pg_dsn):
    from tests.test_readme import readme_examples

    upkeep, listing = [example.sql for example in readme_examples(DOCS.read_text()) if example.kind == "sql"]
    dsn = await scratch_database(pg_dsn, "heartbeats_docs")
    await migrate(dsn)
    connection = await asyncpg.connect(dsn)
    try:
        # migrate made today's partition and the week's ahead; the upkeep adds the 30 days of retention.
        made = await connection.fetchrow(upkeep)
        assert made["created"] == 30 and made["busy"] is False
        partitions = await connection.fetch(listing)
        assert len(partitions) == 39  # and the default
        assert {row["range"] for row in partitions} >= {"DEFAULT"}
        # "as the owner or as service_role"
        async with connection.transaction():
            await connection.execute("set local role service_role")
            assert (await connection.fetchrow(upkeep))["created"] == 0
    finally:
        await connection.close()
