"""cleanup-heartbeats: only expired rows go, in batches, within the budget."""

from __future__ import annotations

from tests.conftest import AUTH, app_client
from tests.factories import add_agent


async def _arrange(sql, expired: int, kept: int) -> None:
    await add_agent(sql, "a", agent_id="00000000-0000-0000-0000-000000000001")
    await sql.execute(
        """
        insert into heartbeats (agent_id, created_at)
        select '00000000-0000-0000-0000-000000000001'::uuid, now() - interval '31 days' - i * interval '1 second'
          from generate_series(1, $1) i
        union all
        select '00000000-0000-0000-0000-000000000001'::uuid, now() - interval '29 days'
          from generate_series(1, $2)
        """,
        expired,
        kept,
    )


async def _counts(sql):
    old = await sql.fetchval("select count(*) from heartbeats where created_at < now() - interval '30 days'")
    young = await sql.fetchval("select count(*) from heartbeats where created_at >= now() - interval '30 days'")
    return old, young


async def test_deletes_only_expired_rows_across_batches(make_settings, sql, db):
    await _arrange(sql, expired=25, kept=7)
    async with app_client(make_settings(cleanup_batch_size=10)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok"
    # Rows a month old sit in the default partition (no day of theirs had a
    # partition when they were written), so they go in batches.
    assert (body["stats"]["deleted"], body["stats"]["batches"]) == (25, 3)
    assert body["has_more"] is False
    assert await _counts(sql) == (0, 7)


async def test_retention_setting_is_honoured(make_settings, sql, db):
    await _arrange(sql, expired=3, kept=4)
    async with app_client(make_settings(heartbeat_retention_days=1)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok"
    # The 29-day-old rows went with their day's partition, or in batches
    # when that day had none yet; either way nothing older than a day is left.
    assert await sql.fetchval("select count(*) from heartbeats where created_at < now() - interval '1 day'") == 0
    assert body["stats"]["deleted"] >= 3


async def test_tiny_budget_ends_partial_and_next_run_finishes(make_settings, sql, db):
    await _arrange(sql, expired=30, kept=2)
    async with app_client(make_settings(cleanup_batch_size=5, run_time_budget_seconds=0.000001)) as http:
        first = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert first["status"] == "partial"
    assert first["has_more"] is True
    assert first["stats"]["deleted"] < 30
    async with app_client(make_settings(cleanup_batch_size=5)) as http:
        second = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert second["status"] == "ok"
    assert first["stats"]["deleted"] + second["stats"]["deleted"] == 30
    assert await _counts(sql) == (0, 2)


async def test_limit_caps_deleted_rows(client, sql):
    await _arrange(sql, expired=12, kept=0)
    body = (await client.get("/api/cron/cleanup-heartbeats?limit=5", headers=AUTH)).json()
    assert body["stats"]["deleted"] == 5
    assert body["has_more"] is True
    assert await _counts(sql) == (7, 0)


async def test_dry_run_counts_and_deletes_nothing(client, sql):
    await _arrange(sql, expired=12, kept=3)
    partitions = "select array_agg(partition_name order by partition_name) from _heartbeat_partition_ranges()"
    before = await sql.fetchval(partitions)
    body = (await client.get("/api/cron/cleanup-heartbeats?dry_run=1", headers=AUTH)).json()
    assert body["stats"] == {"would_delete": 12}
    # Nor does it make or drop a partition.
    assert await sql.fetchval(partitions) == before
    assert await _counts(sql) == (12, 3)


def test_batches_are_sized_towards_a_second_each():
    from lib.jobs.batches import next_batch_size

    assert next_batch_size(10_000, 4.0, 10_000) == 2_500  # slow: shrink to about a second
    assert next_batch_size(1_000, 0.1, 10_000) == 2_000  # fast: grow, at most doubling
    assert next_batch_size(8_000, 0.1, 10_000) == 10_000  # never above CLEANUP_BATCH_SIZE
    assert next_batch_size(1, 30.0, 10_000) == 1


async def test_a_statement_timeout_shrinks_the_batch_and_the_run_goes_on(make_settings, sql, db, postgrest):
    from tests.fakes.postgrest import sql_error

    await _arrange(sql, expired=25, kept=3)
    if postgrest is not None:
        # Through PostgREST a batch that outlives the 8 s statement_timeout is
        # cancelled (57014, HTTP 500) and rolled back whole.
        postgrest.fail_next(
            "delete_expired_heartbeats", sql_error("57014", "canceling statement due to statement timeout")
        )
    async with app_client(make_settings(cleanup_batch_size=20)) as http:
        body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
    assert body["status"] == "ok", body
    assert body["stats"]["deleted"] == 25
    assert body["has_more"] is False
    assert await _counts(sql) == (0, 3)


async def test_tiny_budget_reports_has_more_until_the_backlog_is_gone(make_settings, sql, db):
    await _arrange(sql, expired=12, kept=1)
    runs = []
    for _ in range(20):
        async with app_client(make_settings(cleanup_batch_size=5, run_time_budget_seconds=0.000001)) as http:
            body = (await http.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()
        runs.append((body["stats"]["deleted"], body["has_more"]))
        if not body["has_more"]:
            break
    # Every run made progress or said it was done; only the last says done.
    assert all(has_more for _, has_more in runs[:-1]) and runs[-1][1] is False
    assert sum(deleted for deleted, _ in runs) == 12
    assert await _counts(sql) == (0, 1)
