"""Claims at depth (DESIGN.md Scale): with 100,000 rows waiting, each queue's claim still takes the
oldest first, in the order of its partial index, without sorting the queue. The 1 M figures are
`python3 dev.py bench scale`'s; this is the same check at a size the gate runs in seconds."""

from __future__ import annotations

import json

import asyncpg

from lib.db.queries.alerts import claim_alert_deliveries
from lib.db.queries.reminders import ClaimedReminder, claim_due_reminders
from lib.db.queries.run_requests import claim_run_requests
from tests.factories import add_job

DEPTH = 100_000


def _nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    children = plan.get("Plans") or []
    assert isinstance(children, list)
    return [plan, *(node for child in children for node in _nodes(child))]


async def _plan(sql: asyncpg.Connection, query: str) -> list[dict[str, object]]:
    """The plan's nodes, as EXPLAIN (FORMAT JSON) gives them, in a transaction rolled back (the claim locks)."""
    transaction = sql.transaction()
    await transaction.start()
    try:
        document = json.loads(await sql.fetchval(f"explain (format json) {query}"))
    finally:
        await transaction.rollback()
    return _nodes(document[0]["Plan"])


async def test_run_request_claims_take_the_oldest_of_100k_in_index_order(db, sql):
    job = await add_job(sql, "deep-queue")
    # Inserted in random order, so the table's physical order says nothing about age.
    await sql.execute(
        """
        insert into cron_run_requests (job_id, available_at, requested_at)
        select $1::uuid, t, t
          from (select now() - interval '1 day' + g * interval '1 ms' as t
                  from generate_series(1, $2::int) g order by random()) s
        """,
        job,
        DEPTH,
    )
    await sql.execute("analyze cron_run_requests")
    oldest = "select id::text from cron_run_requests where status = 'queued' order by available_at limit 40"
    expected = [row["id"] for row in await sql.fetch(oldest)]

    first = await claim_run_requests(db, batch_size=20, lease_seconds=60)
    second = await claim_run_requests(db, batch_size=20, lease_seconds=60)
    assert [request.id for request in first] == expected[:20]
    assert [request.id for request in second] == expected[20:]

    nodes = await _plan(sql, "select id from run_requests_ready order by available_at limit 20 for update skip locked")
    assert any(node.get("Index Name") == "cron_run_requests_queued_idx" for node in nodes), nodes
    assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), nodes


async def test_reminder_claims_take_the_oldest_of_100k_even_when_most_share_one_due_at(db, sql):
    # Half the queue was inserted at once (one campaign, one due_at), the rest a second apart.
    await sql.execute(
        """
        insert into scheduled_reminders (telegram_id, due_at, draft_text)
        select g, case when g % 2 = 0 then now() - interval '2 hours'
                       else now() - interval '1 day' + g * interval '1 second' end, 'hello'
          from (select g from generate_series(1, $1::int) g order by random()) s
        """,
        DEPTH,
    )
    await sql.execute("analyze scheduled_reminders")
    oldest = "select id from scheduled_reminders order by due_at, id limit 200"
    expected = [row["id"] for row in await sql.fetch(oldest)]

    claimed = await claim_due_reminders(db, batch_size=100, lease_seconds=60)
    assert sorted(r.id for r in claimed if isinstance(r, ClaimedReminder)) == sorted(expected[:100])
    claimed = await claim_due_reminders(db, batch_size=100, lease_seconds=60)
    assert sorted(r.id for r in claimed if isinstance(r, ClaimedReminder)) == sorted(expected[100:])

    nodes = await _plan(sql, "select id from due_reminders order by due_at, id limit 100 for update skip locked")
    assert any(node.get("Index Name") == "scheduled_reminders_due_id_idx" for node in nodes), nodes
    assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), nodes


async def test_alert_delivery_claims_take_the_oldest_of_100k_in_index_order(db, sql):
    # Two channels per event, routed already, the deliveries inserted in random order; a few are
    # sent or dead (off the partial index) and a few wait for a backoff that has not passed.
    await sql.execute(
        """
        insert into cron_alert_events (id, event, payload, fanned_out_at, created_at)
        overriding system value
        select g, 'agents.offline', '{}'::jsonb, now(), now() - interval '1 day'
          from generate_series(1, $1::int / 2) g
        """,
        DEPTH,
    )
    await sql.execute(
        """
        insert into cron_alert_deliveries (event_id, channel, status, available_at)
        select e, c, case when e % 97 = 0 then 'sent' when e % 89 = 0 then 'dead' else 'pending' end,
               case when e % 83 = 0 then now() + interval '1 hour'
                    else now() - interval '1 day' + e * interval '1 ms' end
          from (select e, c from generate_series(1, $1::int / 2) e, unnest(array['webhook', 'slack']) c
                 order by random()) s
        """,
        DEPTH,
    )
    await sql.execute("analyze cron_alert_events; analyze cron_alert_deliveries")
    oldest = """select id from cron_alert_deliveries
                 where status = 'pending' and available_at <= now() order by available_at, id limit 100"""
    expected = [row["id"] for row in await sql.fetch(oldest)]

    channels = ["webhook", "slack"]
    first = await claim_alert_deliveries(db, channels=channels, limit=50, lease_seconds=60, max_attempts=10)
    second = await claim_alert_deliveries(db, channels=channels, limit=50, lease_seconds=60, max_attempts=10)
    assert [int(row["id"]) for row in first] == sorted(expected[:50])
    assert [int(row["id"]) for row in second] == sorted(expected[50:])

    nodes = await _plan(
        sql,
        """select d.id from cron_alert_deliveries d
            where d.status = 'pending' and d.available_at <= now() and d.channel = any ('{webhook,slack}'::text[])
            order by d.available_at, d.id limit 50 for update skip locked""",
    )
    assert any(node.get("Index Name") == "cron_alert_deliveries_due_idx" for node in nodes), nodes
    assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), nodes
