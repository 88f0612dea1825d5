"""The run ledger: leases, overlap, abandoned runs, last_* and the errors a run can end in."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from lib.db import Database, DatabaseError, Row
from lib.db.statuses import Trigger
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.registry import JOBS
from lib.runner import run_job
from tests.conftest import AUTH, app_client


async def _slow(ctx: JobContext) -> JobResult:
    await asyncio.sleep(0.3)
    return JobResult(stats={"slept": True})


SLOW = Job(name="check-stale", run=_slow, summary="slow stand-in", max_limit=10)


async def test_two_concurrent_runs_one_works_one_is_skipped(db, settings, sql):
    first, second = await asyncio.gather(
        run_job(SLOW, db=db, settings=settings, trigger=Trigger.MANUAL),
        run_job(SLOW, db=db, settings=settings, trigger=Trigger.MANUAL),
    )
    statuses = sorted([first.status, second.status])
    assert statuses == ["ok", "skipped"]
    rows = await sql.fetch("select id, status, stats from cron_runs order by id")
    assert sorted(r["status"] for r in rows) == ["ok", "skipped"]
    winner = next(r for r in rows if r["status"] == "ok")
    loser = next(r for r in rows if r["status"] == "skipped")
    assert json.loads(loser["stats"]) == {"held_by_run": winner["id"]}
    assert await sql.fetchval("select count(*) from cron_locks") == 0


async def test_concurrent_http_deliveries_of_one_job(client, sql):
    # Vercel may deliver one tick twice; the ledger absorbs the duplicate.
    await sql.execute(
        "insert into agents (name, last_heartbeat_at) select 'a' || i, now() - interval '1 hour' "
        "from generate_series(1, 2000) i"
    )
    bodies = [r.json() for r in await asyncio.gather(*(client.get("/api/cron/check-stale", headers=AUTH)
                                                       for _ in range(4)))]  # fmt: skip
    assert sum(b["stats"].get("marked_offline", 0) for b in bodies) == 2000
    assert await sql.fetchval("select count(*) from agents where status = 'online'") == 0
    assert await sql.fetchval("select count(*) from cron_runs") == 4


async def test_a_different_job_is_not_blocked(db, settings):
    other = Job(name="cleanup-heartbeats", run=_slow, summary="slow", max_limit=10)
    first, second = await asyncio.gather(
        run_job(SLOW, db=db, settings=settings, trigger=Trigger.MANUAL),
        run_job(other, db=db, settings=settings, trigger=Trigger.MANUAL),
    )
    assert (first.status, second.status) == ("ok", "ok")


async def test_run_abandoned_past_its_lease_is_not_left_running(db, settings, sql):
    await sql.execute(
        "insert into cron_runs (job, trigger, status, started_at, lease_until) "
        "values ('check-stale', 'manual', 'running', now() - interval '10 minutes', now() - interval '8 minutes')"
    )
    await sql.execute(
        "insert into cron_locks (job, holder, locked_until) values ('check-stale', '1', now() - interval '8 minutes')"
    )
    report = await run_job(JOBS["check-stale"], db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.status == "ok"  # the expired lease does not block the next run
    row = await sql.fetchrow("select status, error, finished_at is not null as done from cron_runs where id = 1")
    assert row["status"] == "error"
    assert row["error"].startswith("abandoned")
    assert row["done"] is True


async def test_runs_route_reaps_abandoned_runs(client, sql):
    await sql.execute(
        "insert into cron_runs (job, trigger, status, started_at, lease_until) "
        "values ('cleanup-heartbeats', 'manual', 'running', now() - interval '10 minutes', now() - interval '1 minute')"
    )
    runs = (await client.get("/api/cron/runs", headers=AUTH)).json()["runs"]
    assert runs[0]["status"] == "error"
    assert runs[0]["error"].startswith("abandoned")


async def test_every_run_updates_the_jobs_last_columns(client, sql):
    body = (await client.get("/api/cron/check-stale", headers=AUTH)).json()
    row = await sql.fetchrow(
        "select last_status, last_run_at, last_duration_ms from cron_jobs where name = 'check-stale'"
    )
    assert row["last_status"] == "ok"
    assert row["last_run_at"] is not None
    assert row["last_duration_ms"] == body["duration_ms"]


async def test_a_failing_job_answers_500_with_one_line_and_is_recorded(db, settings, sql, capsys):
    async def broken(ctx: JobContext) -> JobResult:
        raise RuntimeError("the flux capacitor\nis gone")

    report = await run_job(Job("check-stale", broken, "broken", 1), db=db, settings=settings, trigger=Trigger.CLI)
    assert report.status == "error"
    assert report.error == "RuntimeError: the flux capacitor is gone"
    assert report.body() == {
        "job": "check-stale",
        "run_id": report.run_id,
        "status": "error",
        "error": "RuntimeError: the flux capacitor is gone",
        "trigger": "cli",
        "request_id": report.request_id,
    }
    row = await sql.fetchrow("select status, error from cron_runs where id = $1", report.run_id)
    assert dict(row) == {"status": "error", "error": "RuntimeError: the flux capacitor is gone"}
    assert await sql.fetchval("select last_status from cron_jobs where name = 'check-stale'") == "error"
    assert await sql.fetchval("select count(*) from cron_locks") == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"cron_run"' in line]
    assert logged[-1]["status"] == "error"


async def test_a_job_that_ignores_its_deadline_is_stopped_and_recorded(make_settings, db, sql, monkeypatch):
    from lib import runner

    async def hangs(ctx: JobContext) -> JobResult:
        await asyncio.sleep(30)
        return JobResult(stats={})

    monkeypatch.setattr(runner, "OVERRUN_GRACE_SECONDS", 0.1)
    settings = make_settings(run_time_budget_seconds=0.1)
    report = await run_job(Job("check-stale", hangs, "hangs", 1), db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.status == "error"
    assert report.error is not None and report.error.startswith("stopped after overrunning its time budget of 0.1 s")
    row = await sql.fetchrow("select status, error from cron_runs where id = $1", report.run_id)
    assert row["status"] == "error" and row["error"] == report.error
    assert await sql.fetchval("select count(*) from cron_locks") == 0


async def test_database_down_gives_clear_json_not_a_traceback(make_settings, sql, http_mock):
    down = make_settings(database_url="postgresql://postgres@127.0.0.1:1/postgres", supabase_url=None)
    async with app_client(down) as http:
        response = await http.get("/api/cron/check-stale", headers=AUTH)
        health = await http.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["run_id"] is None
    assert body["error"].startswith("database unavailable")
    assert "Traceback" not in response.text
    assert health.status_code == 503
    assert health.json()["database"] == "unreachable"


async def test_supabase_down_gives_clear_json(make_settings, sql, http_mock):
    http_mock.post(url__startswith="https://down.supabase.test/").mock(side_effect=httpx.ConnectError("refused"))
    down = make_settings(supabase_url="https://down.supabase.test", supabase_service_role_key="k", database_url=None)
    async with app_client(down) as http:
        response = await http.get("/api/cron/check-stale", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"].startswith("database unavailable")


async def test_a_sql_error_is_a_clear_database_error(db):
    from lib.db import DatabaseError

    try:
        await db.call("begin_run", p_job="x", p_trigger="manual", p_lease_seconds=0)
    except DatabaseError as error:
        assert "lease must be a positive number" in str(error)
        assert error.code == "22023"
    else:
        raise AssertionError("begin_run accepted a zero lease")


# -- repeats of a committed call (an adapter retrying after a read timeout) ------


@dataclass
class RepeatingDatabase:
    """Sends each call of `functions` twice, as an adapter does when the first
    answer is lost after the database committed it; the caller gets the second."""

    inner: Database
    functions: frozenset[str]
    # A plain attribute, as the port declares it, so this is a Database to mypy.
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        if function in self.functions:
            await self.inner.call(function, **args)
        return await self.inner.call(function, **args)

    async def close(self) -> None:
        await self.inner.close()


async def test_begin_run_with_the_same_key_returns_the_first_run(db, sql):
    args = {"p_job": "check-stale", "p_trigger": "manual", "p_lease_seconds": 60, "p_run_key": "run-key-1"}
    [first] = await db.call("begin_run", **args)
    [again] = await db.call("begin_run", **args)
    assert (again["run_id"], again["acquired"], again["paused"]) == (first["run_id"], True, False)
    assert str(again["started_at"]) == str(first["started_at"])
    assert await sql.fetchval("select count(*) from cron_runs") == 1
    assert await sql.fetchval("select holder from cron_locks where job = 'check-stale'") == str(first["run_id"])
    # Another run (another key) still meets the lease.
    [other] = await db.call("begin_run", **{**args, "p_run_key": "run-key-2"})
    assert (other["acquired"], other["held_by"]) == (False, first["run_id"])
    # A repeat of the skipped one answers skipped again, and adds no row either.
    [other_again] = await db.call("begin_run", **{**args, "p_run_key": "run-key-2"})
    assert (other_again["run_id"], other_again["acquired"], other_again["held_by"]) == (
        other["run_id"],
        False,
        first["run_id"],
    )
    assert await sql.fetchval("select count(*) from cron_runs") == 2


async def test_concurrent_begin_runs_with_one_key_open_one_run(db, sql):
    args = {"p_job": "check-stale", "p_trigger": "manual", "p_lease_seconds": 60, "p_run_key": "same"}
    answers = await asyncio.gather(*(db.call("begin_run", **args) for _ in range(4)))
    assert {(rows[0]["run_id"], rows[0]["acquired"]) for rows in answers} == {(answers[0][0]["run_id"], True)}
    assert await sql.fetchval("select count(*) from cron_runs") == 1


async def test_a_repeated_begin_run_is_not_skipped(db, settings, sql):
    await sql.execute("insert into agents (name, last_heartbeat_at) values ('a', now() - interval '1 hour')")
    report = await run_job(JOBS["check-stale"], db=RepeatingDatabase(db, frozenset({"begin_run"})), settings=settings,
                           trigger=Trigger.MANUAL)  # fmt: skip
    assert (report.status, report.stats["marked_offline"]) == ("ok", 1)
    rows = await sql.fetch("select status from cron_runs")
    assert [row["status"] for row in rows] == ["ok"]
    assert await sql.fetchval("select count(*) from cron_locks") == 0


async def test_request_run_with_the_same_key_returns_the_first_request(db, sql):
    args = {"job_name": "check-stale", "requested_by": "bot", "payload": {"n": 1}, "dedup_key": "bot:msg-42"}
    [first] = await db.call("request_run", **args)
    [again] = await db.call("request_run", **args)
    assert again == first
    assert await sql.fetchval("select count(*) from cron_run_requests") == 1
    # Paused since: the repeat still answers with the request the first call queued.
    await sql.execute("update cron_jobs set enabled = false where name = 'check-stale'")
    [paused_again] = await db.call("request_run", **args)
    assert paused_again["id"] == first["id"]
    # Without a key, or with another one, each call is a new request.
    await sql.execute("update cron_jobs set enabled = true where name = 'check-stale'")
    await db.call("request_run", job_name="check-stale")
    await db.call("request_run", job_name="check-stale", dedup_key="bot:msg-43")
    assert await sql.fetchval("select count(*) from cron_run_requests") == 3


async def test_a_repeated_request_run_queues_once(db, sql):
    repeating = RepeatingDatabase(db, frozenset({"request_run"}))
    [row] = await repeating.call("request_run", job_name="check-stale", dedup_key="dash:click-1")
    assert [str(r["id"]) for r in await sql.fetch("select id from cron_run_requests")] == [str(row["id"])]


async def test_a_request_key_of_another_job_is_refused(db, sql):
    await db.call("request_run", job_name="check-stale", dedup_key="k")
    with pytest.raises(DatabaseError, match="dedup_key 'k' already names a request of another job"):
        await db.call("request_run", job_name="cleanup-heartbeats", dedup_key="k")
    assert await sql.fetchval("select count(*) from cron_run_requests") == 1
