"""Pausing (cron_jobs.enabled = false): the operator's switch, through both adapters.

A paused job's route answers skipped / paused and does nothing, its schedule
stops firing, its queued requests are held and run after the resume, and the
resume does not replay the ticks it missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest

from lib.db import Database, DatabaseError
from lib.db.statuses import Trigger
from lib.jobs.registry import JOBS
from lib.migrate import migrate
from lib.runner import run_job
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import add_agent, add_job
from tests.fakes.webhook import WEBHOOK_SECRET, local_receiver


@pytest.fixture
def hook_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)


async def set_enabled(sql: asyncpg.Connection, name: str, enabled: bool) -> None:
    await sql.execute("update cron_jobs set enabled = $2 where project_id = 'default' and name = $1", name, enabled)


async def request_statuses(sql: asyncpg.Connection) -> list[tuple[str, int]]:
    rows = await sql.fetch("select status, attempts from cron_run_requests order by requested_at, id")
    return [(row["status"], row["attempts"]) for row in rows]


async def stale_agents(sql: asyncpg.Connection, count: int) -> None:
    for i in range(1, count + 1):
        await add_agent(sql, f"a{i}", heartbeat_ago=3600)


# -- the route ------------------------------------------------------------------


@pytest.mark.parametrize("headers", [AUTH, {**AUTH, "user-agent": "vercel-cron/1.0"}], ids=["manual", "vercel"])
async def test_a_paused_jobs_route_answers_skipped_paused_and_does_nothing(
    client: httpx.AsyncClient, sql: asyncpg.Connection, headers: dict[str, str]
) -> None:
    await stale_agents(sql, 3)
    await set_enabled(sql, "check-stale", False)

    response = await client.get("/api/cron/check-stale", headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert (body["job"], body["status"], body["stats"]) == ("check-stale", "skipped", {"reason": "paused"})
    assert await sql.fetchval("select count(*) from agents where status = 'online'") == 3
    ledger = await sql.fetchrow("select * from cron_runs where id = $1", body["run_id"])
    assert (ledger["job"], ledger["status"], json.loads(ledger["stats"])) == (
        "check-stale",
        "skipped",
        {"reason": "paused"},
    )
    assert ledger["finished_at"] is not None and ledger["trigger"] == body["trigger"]
    # A paused run takes no lease, so nothing waits for it.
    assert await sql.fetchval("select count(*) from cron_locks") == 0

    await set_enabled(sql, "check-stale", True)
    resumed = (await client.get("/api/cron/check-stale", headers=headers)).json()
    assert (resumed["status"], resumed["stats"]["marked_offline"]) == ("ok", 3)


async def test_pausing_one_job_leaves_the_others_running(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    await set_enabled(sql, "cleanup-heartbeats", False)
    report = await run_job(JOBS["check-stale"], db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.status == "ok"
    paused = await run_job(JOBS["cleanup-heartbeats"], db=db, settings=settings, trigger=Trigger.CLI)
    assert (paused.status, paused.stats) == ("skipped", {"reason": "paused"})


# -- the schedule -----------------------------------------------------------------


async def test_a_paused_schedule_stops_firing(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    due = await sql.fetchval("select date_trunc('second', now()) - interval '1 minute'")
    await add_job(sql, "every-5m", schedule_type="interval", schedule="5m", next_run_at=due)
    await add_job(sql, "launch", schedule_type="once", schedule=due.isoformat(), next_run_at=due)
    await set_enabled(sql, "every-5m", False)
    await set_enabled(sql, "launch", False)

    body = (await client.get("/api/cron/schedule", headers=AUTH)).json()

    assert (body["status"], body["stats"]["jobs"], body["stats"]["enqueued"]) == ("ok", 0, 0)
    assert await request_statuses(sql) == []

    # A paused `once` whose instant passed fires once it is resumed: it is not a burst of missed ticks.
    await set_enabled(sql, "launch", True)
    body = (await client.get("/api/cron/schedule", headers=AUTH)).json()
    assert (body["stats"]["enqueued"], body["stats"]["completed_once"]) == (1, 1)


async def test_resume_gives_no_burst_of_missed_ticks(
    db: Database, client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    now = await sql.fetchval("select now()")
    hour = now.replace(minute=0, second=0, microsecond=0)
    hourly = await add_job(
        sql, "hourly", schedule_type="cron", schedule="0 * * * *", next_run_at=hour - timedelta(hours=3)
    )
    interval_at = now.replace(microsecond=0) - timedelta(minutes=65)
    every_10m = await add_job(sql, "every-10m", schedule_type="interval", schedule="10m", next_run_at=interval_at)
    await sql.execute("update cron_jobs set enabled = false where name in ('hourly', 'every-10m')")
    # Paused across several due ticks: nothing fires.
    assert (await client.get("/api/cron/schedule", headers=AUTH)).json()["stats"]["jobs"] == 0

    await sql.execute("update cron_jobs set enabled = true where name in ('hourly', 'every-10m')")
    resumed_at = await sql.fetchval("select resumed_at from cron_jobs where id = $1", every_10m)
    body = (await client.get("/api/cron/schedule", headers=AUTH)).json()
    after = await sql.fetchval("select now()")

    # At most one request each, and only for a tick after the resume (none of the missed ones).
    rows = await sql.fetch("select job_id::text, dedup_key from cron_run_requests")
    for row in rows:
        tick = datetime.fromisoformat(row["dedup_key"].split("@", 1)[1].replace("Z", "+00:00"))
        assert tick >= resumed_at
    assert len(rows) <= 1 and body["stats"]["enqueued"] == len(rows)
    jobs = {
        str(r["id"]): r
        for r in await sql.fetch("select * from cron_jobs where id::text = any($1)", [hourly, every_10m])
    }
    # The next tick after now, on each job's own cadence.
    assert after < jobs[hourly]["next_run_at"] <= after + timedelta(hours=1)
    assert jobs[hourly]["next_run_at"].minute == 0
    assert after < jobs[every_10m]["next_run_at"] <= after + timedelta(minutes=10)
    assert (jobs[every_10m]["next_run_at"] - interval_at) % timedelta(minutes=10) == timedelta(0)
    assert all(job["resumed_at"] is None for job in jobs.values())


# -- held requests ----------------------------------------------------------------


async def test_a_paused_jobs_requests_are_held_and_run_after_resume(
    hook_settings: Settings, sql: asyncpg.Connection, db: Database
) -> None:
    async with local_receiver() as (url, bodies):
        await add_job(sql, "deploy", target=url)
        [webhook] = await db.call("request_run", job_name="deploy", requested_by="test")
        [builtin] = await db.call("request_run", job_name="check-stale", requested_by="test")
        await stale_agents(sql, 2)
        await set_enabled(sql, "deploy", False)
        await set_enabled(sql, "check-stale", False)

        async with app_client(hook_settings) as http:
            held = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
            assert (held["status"], held["stats"]["claimed"]) == ("ok", 0)
            assert await request_statuses(sql) == [("queued", 0), ("queued", 0)]
            assert bodies == []
            assert await sql.fetchval("select count(*) from agents where status = 'online'") == 2
            # A dry run of the drain does not list them either: they are not due while paused.
            dry = (await http.get("/api/cron/run-requests?dry_run=true", headers=AUTH)).json()
            assert dry["stats"]["would_run"] == 0
            # The operator's list says why they wait.
            listed = await db.call("list_run_requests", p_status="queued")
            assert [(row["job_name"], row["held"]) for row in listed] == [("check-stale", True), ("deploy", True)]

            await set_enabled(sql, "deploy", True)
            await set_enabled(sql, "check-stale", True)
            ran = (await http.get("/api/cron/run-requests", headers=AUTH)).json()

        assert (ran["stats"]["claimed"], ran["stats"]["done"]) == (2, 2)
        assert await request_statuses(sql) == [("done", 1), ("done", 1)]
        assert not any(row["held"] for row in await db.call("list_run_requests"))
        assert [json.loads(body)["request_id"] for body in bodies] == [webhook["id"]]
        assert await sql.fetchval("select count(*) from agents where status = 'online'") == 0
        run = await sql.fetchrow("select status, trigger from cron_runs where job = 'check-stale' and request_id = $1",
                                 builtin["id"])  # fmt: skip
        assert dict(run) == {"status": "ok", "trigger": "run-request"}


async def test_request_run_on_a_paused_job_refuses_with_a_clear_line(db: Database, sql: asyncpg.Connection) -> None:
    await set_enabled(sql, "check-stale", False)
    with pytest.raises(DatabaseError, match=r"job 'check-stale' in project 'default' is disabled \(paused\)"):
        await db.call("request_run", job_name="check-stale", requested_by="test")
    assert await request_statuses(sql) == []


# -- migrate --------------------------------------------------------------------


async def test_migrate_never_changes_enabled(pg_dsn: str, sql: asyncpg.Connection) -> None:
    await set_enabled(sql, "check-stale", False)
    await migrate(pg_dsn)
    # Even when vercel.json's schedule changed, the upsert leaves the switch alone.
    await sql.execute("select public.upsert_builtin_job('check-stale', '*/7 * * * *')")
    row = await sql.fetchrow("select enabled, schedule from cron_jobs where name = 'check-stale'")
    assert (row["enabled"], row["schedule"]) == (False, "*/7 * * * *")
    await migrate(pg_dsn)
    assert await sql.fetchval("select enabled from cron_jobs where name = 'check-stale'") is False
