"""schedule: due database-defined schedules become run requests, once per tick, through both adapters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lib.db import Database
from lib.db.postgres import PostgresDatabase
from lib.db.supabase import SupabaseDatabase
from lib.deadline import Deadline
from lib.jobs import schedule as schedule_module
from lib.jobs.base import JobContext, JobResult
from lib.jobs.registry import JOBS
from lib.settings import Settings
from tests.conftest import AUTH
from tests.factories import add_job


def context(db: Database, settings: Settings, **overrides: Any) -> JobContext:
    values: dict[str, Any] = {
        "db": db,
        "settings": settings,
        "deadline": Deadline.after(30),
        "run_id": 0,
        "trigger": "manual",
        "request_id": uuid.uuid4().hex,
    }
    values.update(overrides)
    return JobContext(**values)


async def run(db: Database, settings: Settings, **overrides: Any) -> JobResult:
    return await schedule_module.schedule(context(db, settings, **overrides))


async def job(sql, job_id: str) -> dict[str, Any]:
    return dict(await sql.fetchrow("select * from cron_jobs where id = $1", job_id))


async def requests(sql, job_id: str | None = None) -> list[dict[str, Any]]:
    rows = await sql.fetch(
        "select * from cron_run_requests where $1::uuid is null or job_id = $1 order by requested_at, dedup_key", job_id
    )
    return [dict(row) for row in rows]


async def db_now(sql) -> datetime:
    now: datetime = await sql.fetchval("select now()")
    return now


def key(job_id: str, instant: datetime) -> str:
    return f"{job_id}@{instant.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def five_minute_mark(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) - timedelta(minutes=moment.minute % 5)


async def test_due_cron_interval_and_once_jobs_enqueue_one_request_each(db, settings, sql):
    now = await db_now(sql)
    cron_at = five_minute_mark(now) - timedelta(minutes=5)
    interval_at = now.replace(microsecond=0) - timedelta(minutes=3)
    once_at = now.replace(microsecond=0) - timedelta(seconds=30)
    cron = await add_job(
        sql, "cron", schedule_type="cron", schedule="*/5 * * * *", next_run_at=cron_at, project_id="acme"
    )
    interval = await add_job(sql, "interval", schedule_type="interval", schedule="10m", next_run_at=interval_at)
    once = await add_job(sql, "once", schedule_type="once", schedule=once_at.isoformat(), next_run_at=once_at)

    result = await run(db, settings)

    assert result.stats["enqueued"] == 3
    assert result.stats["completed_once"] == 1
    assert (result.has_more, result.failures) == (False, 0)
    for job_id, scheduled, project in (
        (cron, cron_at, "acme"),
        (interval, interval_at, "default"),
        (once, once_at, "default"),
    ):
        [request] = await requests(sql, job_id)
        assert request["dedup_key"] == key(job_id, scheduled)
        assert (request["status"], request["project_id"], request["requested_by"]) == ("queued", project, "schedule")
        assert request["payload"] is None  # the drain uses the job's payload

    cron_row = await job(sql, cron)
    assert cron_row["next_run_at"] > now and cron_row["next_run_at"] == five_minute_mark(cron_row["next_run_at"])
    assert cron_row["next_run_at"] - now <= timedelta(minutes=5, seconds=30)
    assert (await job(sql, interval))["next_run_at"] == interval_at + timedelta(minutes=10)
    once_row = await job(sql, once)
    # Fired, not disabled: enabled is the operator's switch, and the drain must still run the request.
    assert (once_row["enabled"], once_row["next_run_at"]) == (True, once_at)
    assert once_row["fired_at"] is not None
    for row in (cron_row, once_row):
        assert (row["schedule_claim_token"], row["schedule_locked_until"], row["schedule_error"]) == (None, None, None)

    again = await run(db, settings)
    assert again.stats["enqueued"] == 0 and again.stats["jobs"] == 0
    assert len(await requests(sql)) == 3


async def test_a_duplicate_tick_inserts_nothing(db, settings, sql):
    scheduled = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    job_id = await add_job(sql, "every-10m", schedule_type="interval", schedule="10m", next_run_at=scheduled)
    assert (await run(db, settings)).stats["enqueued"] == 1
    # The same tick seen again (a restored row, a replayed advance): dedup_key absorbs it.
    await sql.execute("update cron_jobs set next_run_at = $2 where id = $1", job_id, scheduled)
    second = await run(db, settings)
    assert (second.stats["enqueued"], second.stats["duplicates"]) == (0, 1)
    assert [r["dedup_key"] for r in await requests(sql)] == [key(job_id, scheduled)]
    assert (await job(sql, job_id))["next_run_at"] == scheduled + timedelta(minutes=10)


async def test_dedup_key_keeps_fractions_of_a_second(db, settings, sql):
    scheduled = (await db_now(sql)).replace(microsecond=250_000) - timedelta(minutes=1)
    job_id = await add_job(sql, "fractional", schedule_type="interval", schedule="1h", next_run_at=scheduled)
    await run(db, settings)
    assert [r["dedup_key"] for r in await requests(sql)] == [f"{job_id}@{scheduled:%Y-%m-%dT%H:%M:%S}.25Z"]


def separate_database(settings: Settings) -> Database:
    """A new adapter instance with its own connections, as a second function instance would have."""
    if settings.supabase_url and settings.supabase_service_role_key:
        return SupabaseDatabase(settings.supabase_url, settings.supabase_service_role_key.get_secret_value())
    assert settings.database_url is not None
    return PostgresDatabase(settings.database_url.get_secret_value())


async def test_concurrent_runs_enqueue_each_tick_once(settings, sql, monkeypatch):
    monkeypatch.setattr(schedule_module, "BATCH_SIZE", 3)  # many small claims, so the runs interleave
    now = await db_now(sql)
    jobs = {}
    for i in range(30):
        scheduled = now.replace(microsecond=0) - timedelta(seconds=i + 1)
        kind, text = ("interval", "1h") if i % 2 else ("cron", "*/5 * * * *")
        if kind == "cron":
            scheduled = five_minute_mark(now) - timedelta(minutes=5 * (i + 1))
        jobs[await add_job(sql, f"job-{i}", schedule_type=kind, schedule=text, next_run_at=scheduled)] = scheduled

    databases = [separate_database(settings) for _ in range(4)]
    try:
        results = await asyncio.gather(*(run(db, settings, run_id=n) for n, db in enumerate(databases)))
    finally:
        for db in databases:
            await db.close()

    assert sum(r.stats["enqueued"] for r in results) == 30
    assert sum(r.stats["duplicates"] + r.stats["lost"] for r in results) == 0
    rows = await requests(sql)
    assert sorted(r["dedup_key"] for r in rows) == sorted(key(j, at) for j, at in jobs.items())
    left = await sql.fetch("select next_run_at, schedule_claim_token from cron_jobs where id = any($1)", list(jobs))
    assert all(r["next_run_at"] > now and r["schedule_claim_token"] is None for r in left)


async def test_an_advance_from_a_lapsed_claim_changes_nothing(db, settings, sql):
    scheduled = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    job_id = await add_job(sql, "hourly", schedule_type="interval", schedule="1h", next_run_at=scheduled)
    [first] = await db.call("claim_due_schedules", p_limit=10, p_lease_seconds=60)
    # Claimed rows are not claimable again while the lease lasts.
    assert await db.call("claim_due_schedules", p_limit=10, p_lease_seconds=60) == []
    # The first run stalls past its lease; a second run claims the row.
    await sql.execute("update cron_jobs set schedule_locked_until = now() - interval '1 second' where id = $1", job_id)
    [second] = await db.call("claim_due_schedules", p_limit=10, p_lease_seconds=60)
    assert second["claim_token"] != first["claim_token"]

    def item(claim: dict[str, Any]) -> dict[str, Any]:
        following = (scheduled + timedelta(hours=1)).isoformat()
        return {"id": claim["id"], "claim_token": claim["claim_token"], "scheduled_at": scheduled.isoformat(),
                "next_run_at": following, "fired": False, "error": None}  # fmt: skip

    [late] = await db.call("advance_schedules", p_items=[item(first)])
    assert (late["applied"], late["enqueued"]) == (False, False)
    assert await requests(sql) == []
    [owner] = await db.call("advance_schedules", p_items=[item(second)])
    assert (owner["applied"], owner["enqueued"], owner["dedup_key"]) == (True, True, key(job_id, scheduled))
    # A retried settle of the same claim: the token is spent.
    [retry] = await db.call("advance_schedules", p_items=[item(second)])
    assert retry["applied"] is False
    assert len(await requests(sql)) == 1
    assert (await job(sql, job_id))["next_run_at"] == scheduled + timedelta(hours=1)


async def test_missed_ticks_collapse_into_one_request(db, settings, sql):
    now = await db_now(sql)
    cron_at = five_minute_mark(now) - timedelta(hours=2)
    interval_at = now.replace(microsecond=0) - timedelta(minutes=65)
    cron = await add_job(sql, "cron", schedule_type="cron", schedule="*/5 * * * *", next_run_at=cron_at)
    interval = await add_job(sql, "interval", schedule_type="interval", schedule="10m", next_run_at=interval_at)

    assert (await run(db, settings)).stats["enqueued"] == 2
    assert [r["dedup_key"] for r in await requests(sql, cron)] == [key(cron, cron_at)]
    assert [r["dedup_key"] for r in await requests(sql, interval)] == [key(interval, interval_at)]
    cron_next = (await job(sql, cron))["next_run_at"]
    assert now < cron_next <= five_minute_mark(now) + timedelta(minutes=10)
    # Seven 10-minute steps from the scheduled instant: the first on the cadence after now.
    assert (await job(sql, interval))["next_run_at"] == interval_at + timedelta(minutes=70)


async def test_once_fires_once_and_stays_enabled(db, settings, sql):
    now = await db_now(sql)
    past = now.replace(microsecond=0) - timedelta(hours=1)
    future = now.replace(microsecond=0) + timedelta(days=2)
    fired = await add_job(sql, "past", schedule_type="once", schedule=past.isoformat())
    waiting = await add_job(sql, "future", schedule_type="once", schedule=future.isoformat())
    local = await add_job(sql, "local", schedule_type="once", schedule="2020-01-01T09:00", timezone="Asia/Tokyo")

    result = await run(db, settings)
    assert (result.stats["enqueued"], result.stats["completed_once"], result.stats["initialized"]) == (2, 2, 1)
    fired_row = await job(sql, fired)
    assert (fired_row["enabled"], fired_row["fired_at"] is not None) == (True, True)
    assert [r["dedup_key"] for r in await requests(sql, fired)] == [key(fired, past)]
    local_at = datetime(2020, 1, 1, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert [r["dedup_key"] for r in await requests(sql, local)] == [key(local, local_at)]
    row = await job(sql, waiting)
    assert (row["enabled"], row["next_run_at"], row["fired_at"]) == (True, future, None)
    assert await requests(sql, waiting) == []

    assert (await run(db, settings)).stats["jobs"] == 0
    # Pausing and resuming a fired `once` does not make it fire again.
    await sql.execute("update cron_jobs set enabled = false where id = $1", fired)
    await sql.execute("update cron_jobs set enabled = true where id = $1", fired)
    assert (await run(db, settings)).stats["jobs"] == 0
    assert len(await requests(sql, fired)) == 1


async def test_a_rescheduled_once_fires_again_at_its_new_instant(db, settings, sql):
    past = (await db_now(sql)).replace(microsecond=0) - timedelta(hours=1)
    job_id = await add_job(sql, "launch", schedule_type="once", schedule=past.isoformat())
    assert (await run(db, settings)).stats["completed_once"] == 1
    later = past + timedelta(minutes=30)
    await sql.execute("update cron_jobs set schedule = $2 where id = $1", job_id, later.isoformat())
    row = await job(sql, job_id)
    assert (row["fired_at"], row["next_run_at"]) == (None, None)
    assert (await run(db, settings)).stats["completed_once"] == 1
    assert [r["dedup_key"] for r in await requests(sql, job_id)] == [key(job_id, past), key(job_id, later)]


async def test_first_next_run_at_is_the_next_tick_not_now(db, settings, sql):
    before = await db_now(sql)
    tokyo = await add_job(sql, "tokyo-9am", schedule_type="cron", schedule="0 9 * * *", timezone="Asia/Tokyo")
    hourly = await add_job(sql, "hourly", schedule_type="interval", schedule="1h")

    result = await run(db, settings)
    after = await db_now(sql)
    assert (result.stats["initialized"], result.stats["enqueued"]) == (2, 0)
    assert await requests(sql) == []
    tokyo_next = (await job(sql, tokyo))["next_run_at"]
    assert (tokyo_next.hour, tokyo_next.minute) == (0, 0)  # 09:00 JST is 00:00 UTC
    assert before < tokyo_next <= before + timedelta(days=1)
    hourly_next = (await job(sql, hourly))["next_run_at"]
    assert before.replace(microsecond=0) + timedelta(hours=1) <= hourly_next <= after + timedelta(hours=1)


async def test_disabled_vercel_and_manual_jobs_are_ignored(db, settings, sql):
    due = (await db_now(sql)) - timedelta(minutes=5)
    ids = [
        await add_job(sql, "disabled", schedule_type="cron", schedule="* * * * *", next_run_at=due, enabled=False),
        await add_job(sql, "manual", schedule_type="manual", schedule=None, next_run_at=due),
        await add_job(sql, "from-vercel", schedule_type="vercel", schedule="* * * * *", next_run_at=due),
    ]
    snapshot = await sql.fetch("select * from cron_jobs order by id")
    result = await run(db, settings)
    assert result.stats["jobs"] == 0
    assert await requests(sql) == []
    assert await sql.fetch("select * from cron_jobs order by id") == snapshot
    assert len(ids) == 3


async def test_garbage_rows_get_a_clear_error_and_the_rest_proceed(db, settings, sql):
    due = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    good = await add_job(sql, "good", schedule_type="interval", schedule="5m", next_run_at=due)
    bad = {
        await add_job(
            sql, "bad-cron", schedule_type="cron", schedule="61 * * * *", next_run_at=due
        ): "cron schedule '61 * * * *' is not valid",
        await add_job(
            sql, "bad-zone", schedule_type="cron", schedule="0 9 * * *", timezone="Mars/Olympus"
        ): "timezone 'Mars/Olympus'",
        await add_job(
            sql, "bad-interval", schedule_type="interval", schedule="every 5 minutes", next_run_at=due
        ): "interval schedule 'every 5 minutes'",
        await add_job(
            sql, "bad-once", schedule_type="once", schedule="tomorrow"
        ): "once schedule 'tomorrow' is not an ISO 8601",
        await add_job(sql, "never", schedule_type="cron", schedule="0 0 30 2 *", next_run_at=due): "never fires",
        await add_job(sql, "empty", schedule_type="cron", schedule=None, next_run_at=due): "cron schedule is empty",
    }

    result = await run(db, settings)

    assert (result.stats["enqueued"], result.stats["invalid"], result.failures) == (1, 6, 6)
    assert {e["name"] for e in result.stats["errors"]} == {"bad-cron", "bad-zone", "bad-interval", "bad-once",
                                                            "never", "empty"}  # fmt: skip
    assert len(await requests(sql, good)) == 1
    for job_id, message in bad.items():
        row = await job(sql, job_id)
        assert message in row["schedule_error"]
        # enabled is the operator's switch: a bad schedule stops firing without touching it.
        assert (row["enabled"], row["last_status"], row["schedule_claim_token"]) == (True, "error", None)
        assert await requests(sql, job_id) == []
    # Not retried every minute: the bad rows are not even claimed again.
    assert (await run(db, settings)).stats["jobs"] == 0
    # Pausing and resuming does not clear the error either; only a schedule change does.
    bad_cron, bad_zone, bad_interval = list(bad)[:3]
    await sql.execute("update cron_jobs set enabled = false where id = $1", bad_cron)
    await sql.execute("update cron_jobs set enabled = true where id = $1", bad_cron)
    assert (await run(db, settings)).stats["jobs"] == 0

    # Fixing the schedule (or the time zone) clears the error: the row fires again at its next tick.
    await sql.execute("update cron_jobs set schedule = '*/5 * * * *' where id = $1", bad_cron)
    await sql.execute("update cron_jobs set timezone = 'Asia/Tokyo' where id = $1", bad_zone)
    await sql.execute("update cron_jobs set schedule = '5m' where id = $1", bad_interval)
    for fixed in (bad_cron, bad_zone, bad_interval):
        assert ((await job(sql, fixed))["schedule_error"], (await job(sql, fixed))["next_run_at"]) == (None, None)
    fixing = await run(db, settings)
    assert (fixing.stats["initialized"], fixing.stats["invalid"]) == (3, 0)
    await sql.execute("update cron_jobs set next_run_at = now() - interval '1 second' where id = $1", bad_cron)
    assert (await run(db, settings)).stats["enqueued"] == 1
    assert len(await requests(sql, bad_cron)) == 1
    assert (await job(sql, bad_cron))["schedule_error"] is None


async def test_limit_caps_the_jobs_handled(db, settings, sql):
    due = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    for i in range(5):
        await add_job(sql, f"job-{i}", schedule_type="interval", schedule="1h", next_run_at=due - timedelta(seconds=i))
    first = await run(db, settings, limit=2)
    assert (first.stats["enqueued"], first.has_more) == (2, True)
    rest = await run(db, settings)
    assert (rest.stats["enqueued"], rest.has_more) == (3, False)


async def test_dry_run_changes_nothing(db, settings, sql):
    due = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    await add_job(sql, "due", schedule_type="interval", schedule="1h", next_run_at=due)
    await add_job(sql, "once", schedule_type="once", schedule=due.isoformat(), next_run_at=due)
    await add_job(sql, "new", schedule_type="cron", schedule="0 * * * *")
    await add_job(sql, "bad", schedule_type="cron", schedule="nope", next_run_at=due)
    snapshot = await sql.fetch("select * from cron_jobs order by id")

    result = await run(db, settings, dry_run=True)

    stats = result.stats
    assert (stats["would_enqueue"], stats["would_complete_once"], stats["would_initialize"]) == (2, 1, 1)
    assert (stats["invalid"], stats["errors"][0]["name"]) == (1, "bad")
    assert await sql.fetch("select * from cron_jobs order by id") == snapshot
    assert await requests(sql) == []


async def test_http_route_runs_the_job(client, sql):
    assert "schedule" in JOBS
    due = (await db_now(sql)).replace(microsecond=0) - timedelta(minutes=1)
    job_id = await add_job(sql, "hook", schedule_type="interval", schedule="15m", next_run_at=due)

    dry = await client.get("/api/cron/schedule?dry_run=true", headers=AUTH)
    assert dry.status_code == 200 and dry.json()["stats"]["would_enqueue"] == 1
    assert await requests(sql) == []

    response = await client.post("/api/cron/schedule/", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["job"], body["status"], body["stats"]["enqueued"]) == ("schedule", "ok", 1)
    assert [r["dedup_key"] for r in await requests(sql)] == [key(job_id, due)]
    ledger = await sql.fetchrow("select status, last_status from cron_runs, cron_jobs "
                                "where cron_runs.id = $1 and cron_jobs.name = 'schedule'", body["run_id"])  # fmt: skip
    assert dict(ledger) == {"status": "ok", "last_status": "ok"}


async def test_http_route_reports_garbage_as_partial(client, sql):
    due = (await db_now(sql)) - timedelta(minutes=1)
    await add_job(sql, "good", schedule_type="interval", schedule="15m", next_run_at=due)
    await add_job(sql, "bad", schedule_type="interval", schedule="soon", next_run_at=due)
    response = await client.get("/api/cron/schedule", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["stats"]["enqueued"], body["stats"]["invalid"]) == ("partial", 1, 1)


@pytest.mark.parametrize("limit", ["0", "100001"])
async def test_limit_is_validated(client, limit):
    response = await client.get(f"/api/cron/schedule?limit={limit}", headers=AUTH)
    assert response.status_code == 422
