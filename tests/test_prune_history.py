"""prune-history: old ledger rows and finished requests go, in batches, within the budget; live work never does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.settings import SettingsError, load_settings
from tests.conftest import AUTH, app_client
from tests.factories import add_job

ROOT = Path(__file__).resolve().parent.parent


async def _arrange(sql, *, old: int, recent: int = 2) -> dict[str, str]:
    """`old` prunable runs and as many prunable requests, `recent` of each that stay, and live work that stays.

    The live rows are as old as the prunable ones (and the queued one even
    carries a stale completed_at), so only their status keeps them.
    """
    job_id = await add_job(sql, "hook")
    await sql.execute(
        """
        insert into cron_runs (job, trigger, status, started_at, finished_at, duration_ms)
        select 'check-stale', 'vercel-cron', (array['ok', 'error', 'skipped', 'partial'])[1 + i % 4],
               now() - interval '40 days' - i * interval '1 minute', now() - interval '40 days', 5
          from generate_series(1, $1) i
        union all
        select 'check-stale', 'vercel-cron', 'ok', now() - interval '29 days', now() - interval '29 days', 5
          from generate_series(1, $2)
        """,
        old,
        recent,
    )
    live_run = await sql.fetchval(
        "insert into cron_runs (job, trigger, status, started_at, lease_until) "
        "values ('cleanup-heartbeats', 'manual', 'running', now() - interval '40 days', now() + interval '1 hour') "
        "returning id"
    )
    await sql.execute(
        """
        insert into cron_run_requests (job_id, status, requested_at, completed_at)
        select $1::uuid, (array['done', 'error'])[1 + i % 2], now() - interval '41 days',
               now() - interval '40 days' - i * interval '1 minute'
          from generate_series(1, $2) i
        union all
        select $1::uuid, 'done', now() - interval '41 days', now() - interval '29 days' from generate_series(1, $3)
        """,
        job_id,
        old,
        recent,
    )
    queued = await sql.fetchval(
        "insert into cron_run_requests (job_id, status, requested_at, completed_at) "
        "values ($1::uuid, 'queued', now() - interval '41 days', now() - interval '40 days') returning id::text",
        job_id,
    )
    running = await sql.fetchval(
        "insert into cron_run_requests (job_id, status, requested_at, picked_up_at, locked_until) "
        "values ($1::uuid, 'running', now() - interval '41 days', now() - interval '40 days', "
        "now() + interval '1 hour') returning id::text",
        job_id,
    )
    return {"live_run": str(live_run), "queued": queued, "running": running}


async def _left(sql) -> tuple[int, int]:
    runs = await sql.fetchval("select count(*) from cron_runs where started_at < now() - interval '30 days'")
    requests = await sql.fetchval(
        "select count(*) from cron_run_requests where status in ('done', 'error') "
        "and completed_at < now() - interval '30 days'"
    )
    return runs, requests


async def _live_rows_are_untouched(sql, live: dict[str, str]) -> None:
    assert await sql.fetchval("select status from cron_runs where id = $1", int(live["live_run"])) == "running"
    statuses = dict(
        await sql.fetch("select id::text, status from cron_run_requests where status in ('queued', 'running')")
    )
    assert statuses == {live["queued"]: "queued", live["running"]: "running"}
    # The recent rows stay.
    assert await sql.fetchval("select count(*) from cron_runs where started_at > now() - interval '30 days'") >= 2
    assert (
        await sql.fetchval("select count(*) from cron_run_requests where completed_at > now() - interval '30 days'")
        == 2
    )


async def test_old_history_goes_in_batches_and_live_work_stays(make_settings, sql, db):
    live = await _arrange(sql, old=25)
    async with app_client(make_settings(cleanup_batch_size=10)) as http:
        response = await http.get("/api/cron/prune-history", headers=AUTH)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok", body
    # 25 of each at 10 per batch (time-sized batches may grow, never past the cap): 3 batches.
    assert body["stats"] == {"deleted_runs": 25, "deleted_requests": 25, "deleted_alerts": 0, "batches": 3}
    assert body["has_more"] is False
    # Only the live running row is older than the cutoff now.
    assert await _left(sql) == (1, 0)
    await _live_rows_are_untouched(sql, live)
    # The run is in the ledger like any other.
    ledger = await sql.fetchrow("select status, stats from cron_runs where id = $1", body["run_id"])
    assert ledger["status"] == "ok" and json.loads(ledger["stats"])["deleted_runs"] == 25


async def test_a_tiny_budget_runs_one_batch_and_reports_more(make_settings, sql, db):
    live = await _arrange(sql, old=12)
    settings = make_settings(cleanup_batch_size=5, run_time_budget_seconds=0.001)
    async with app_client(settings) as http:
        body = (await http.get("/api/cron/prune-history", headers=AUTH)).json()
    # The first batch runs whatever the budget says; the spent budget stops the rest.
    assert body["status"] == "partial" and body["has_more"] is True, body
    assert body["stats"] == {"deleted_runs": 5, "deleted_requests": 5, "deleted_alerts": 0, "batches": 1}
    assert await _left(sql) == (12 - 5 + 1, 12 - 5)
    async with app_client(make_settings(cleanup_batch_size=5)) as http:
        body = (await http.get("/api/cron/prune-history", headers=AUTH)).json()
    assert body["status"] == "ok" and body["stats"]["deleted_runs"] == 7 and body["stats"]["deleted_requests"] == 7
    await _live_rows_are_untouched(sql, live)


async def test_limit_and_dry_run(client, sql):
    live = await _arrange(sql, old=6)
    dry = (await client.get("/api/cron/prune-history?dry_run=1", headers=AUTH)).json()
    assert dry["stats"] == {"would_delete_runs": 6, "would_delete_requests": 6} and dry["has_more"] is False
    assert await _left(sql) == (7, 6)
    limited = (await client.post("/api/cron/prune-history/?limit=4", headers=AUTH)).json()
    assert limited["stats"]["deleted_runs"] == 4 and limited["stats"]["deleted_requests"] == 4
    assert limited["has_more"] is True and limited["status"] == "partial"
    await _live_rows_are_untouched(sql, live)


async def test_run_history_days_is_the_cutoff(make_settings, sql, db):
    await _arrange(sql, old=3)
    async with app_client(make_settings(run_history_days=45)) as http:
        body = (await http.get("/api/cron/prune-history", headers=AUTH)).json()
    assert body["stats"]["deleted_runs"] == 0 and body["stats"]["deleted_requests"] == 0
    async with app_client(make_settings(run_history_days=20)) as http:
        body = (await http.get("/api/cron/prune-history", headers=AUTH)).json()
    # 20 days also takes the 29-day-old rows (2 of each).
    assert body["stats"]["deleted_runs"] == 3 + 2 and body["stats"]["deleted_requests"] == 3 + 2


async def test_a_retried_request_can_be_pruned(client, sql):
    # A retry links to the failed request it repeats; pruning the old one leaves the link null.
    job_id = await add_job(sql, "hook")
    old = await sql.fetchval(
        "insert into cron_run_requests (job_id, status, completed_at) "
        "values ($1::uuid, 'error', now() - interval '40 days') returning id",
        job_id,
    )
    retry = await sql.fetchval(
        "insert into cron_run_requests (job_id, retry_of) values ($1::uuid, $2) returning id", job_id, old
    )
    body = (await client.get("/api/cron/prune-history", headers=AUTH)).json()
    assert body["stats"]["deleted_requests"] == 1
    assert await sql.fetchval("select retry_of from cron_run_requests where id = $1", retry) is None


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_run_history_days_must_be_a_positive_number_of_days(value):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, run_history_days=value)
    assert "RUN_HISTORY_DAYS" in str(caught.value)


def test_its_cron_is_daily_so_it_fits_the_hobby_plan():
    crons = {c["path"]: c["schedule"] for c in json.loads((ROOT / "vercel.json").read_text())["crons"]}
    minute, hour, *rest = crons["/api/cron/prune-history"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]


async def test_old_alerts_go_once_every_delivery_is_final(client, sql):
    # Delivered and dead alerts older than RUN_HISTORY_DAYS go with the history; one still pending stays.
    await sql.execute(
        """
        with events as (
          insert into cron_alert_events (event, payload, fanned_out_at, created_at)
          select 'alert.test', jsonb_build_object('n', i), now(), now() - interval '40 days'
            from generate_series(1, 4) i
          returning id, (payload ->> 'n')::int as n
        )
        insert into cron_alert_deliveries (event_id, channel, status)
        select id, 'webhook', (array['sent', 'dead', 'pending', 'sent'])[n] from events
        """
    )
    await sql.execute(
        "insert into cron_alert_events (event, fanned_out_at, created_at) values ('alert.test', now(), now())"
    )
    body = (await client.get("/api/cron/prune-history", headers=AUTH)).json()
    assert body["stats"]["deleted_alerts"] == 3
    assert await sql.fetchval("select count(*) from cron_alert_events") == 2
    assert await sql.fetchval("select status from cron_alert_deliveries") == "pending"
