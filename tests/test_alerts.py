"""job.failed, job.overdue and job.recovered: signed, one alert per episode, and never at the run's expense.

(Delivery, retries and the other channels: tests/test_alert_delivery.py and tests/test_alert_channels.py.)

respx stands in for ALERT_WEBHOOK_URL and records every POST; each one's
X-Cronrelay-Signature is verified against the raw body it came with.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import respx

from lib.db import database_for
from lib.db.queries.alerts import list_jobs_to_watch, sweep_overdue_jobs
from lib.db.statuses import Trigger
from lib.jobs.alerting import overdue_deadline
from lib.jobs.base import Job, JobContext, JobResult
from lib.outbound.webhooks import verify_signature
from lib.runner import run_job
from tests.conftest import AUTH, app_client
from tests.factories import HOOK, add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route

ALERT_URL = "https://alerts.example.test/hook"


async def _boom(ctx: JobContext) -> JobResult:
    raise RuntimeError("disk on fire")


# A stand-in for the builtin check-stale that fails as a whole (its ledger row ends `error`).
FAILING_CHECK_STALE = Job(name="check-stale", run=_boom, summary="fails", max_limit=10)


def _settings(make_settings, **overrides: Any):
    return make_settings(alert_webhook_url=ALERT_URL, webhook_signing_secret=WEBHOOK_SECRET, **overrides)


def _alerts(http_mock: respx.MockRouter, status: int = 204) -> respx.Route:
    return http_mock.post(ALERT_URL).mock(return_value=httpx.Response(status))


def _events(route: respx.Route) -> list[dict[str, Any]]:
    """Every alert POSTed so far, in order; each must carry a valid signature of its exact body."""
    events = []
    for call in route.calls:
        body = call.request.content
        assert verify_signature(WEBHOOK_SECRET, body, call.request.headers.get("x-cronrelay-signature")), body
        assert call.request.headers["content-type"] == "application/json"
        events.append(json.loads(body))
    return events


async def _outbox(sql) -> int:
    """Deliveries still to go."""
    return int(await sql.fetchval("select count(*) from cron_alert_deliveries where status = 'pending'"))


async def test_a_failing_run_alerts_once_and_the_next_good_run_recovers_once(make_settings, sql, db, http_mock):
    settings = _settings(make_settings)
    alerts = _alerts(http_mock)
    failed = [
        await run_job(FAILING_CHECK_STALE, db=db, settings=settings, trigger=Trigger.VERCEL_CRON) for _ in range(3)
    ]
    assert [report.status for report in failed] == ["error"] * 3
    [alert] = _events(alerts)  # three failures, one episode, one alert
    assert alert["event"] == "job.failed"
    assert alert["job"] == "check-stale" and alert["kind"] == "builtin" and alert["project_id"] == "default"
    assert alert["source"] == "run" and alert["run_id"] == failed[0].run_id and alert["trigger"] == "vercel-cron"
    assert alert["error"] == "RuntimeError: disk on fire"
    assert alert["failing_since"] and alert["sent_at"] and alert["job_id"] and alert["alert_id"]
    assert failed[0].stats["alerts"] == {"sent": 1, "failed": 0, "pending": 0}
    ledger = await sql.fetchval("select stats from cron_runs where id = $1", failed[0].run_id)
    assert json.loads(ledger)["alerts"] == {"sent": 1, "failed": 0, "pending": 0}
    assert "alerts" not in failed[1].stats  # nothing new to deliver

    async with app_client(settings) as http:
        good = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
        again = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert good["status"] == again["status"] == "ok"
    events = _events(alerts)
    assert [event["event"] for event in events] == ["job.failed", "job.recovered"]
    recovered = events[1]
    assert recovered["job"] == "check-stale" and recovered["recovered_from"] == ["failed"]
    assert recovered["run_id"] == good["run_id"] and recovered["status"] == "ok"
    assert recovered["failing_since"] == alert["failing_since"] and recovered["overdue_since"] is None

    # A new failure is a new episode, and alerts again.
    await run_job(FAILING_CHECK_STALE, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert [event["event"] for event in _events(alerts)] == ["job.failed", "job.recovered", "job.failed"]
    assert await _outbox(sql) == 0


async def test_a_request_that_reaches_its_final_error_alerts_once(make_settings, sql, db, http_mock):
    # Webhook jobs have no ledger row of their own: their run requests are their history.
    settings = _settings(make_settings)
    alerts = _alerts(http_mock)
    answers = iter([httpx.Response(404), httpx.Response(404), httpx.Response(500), httpx.Response(200)])
    hook_route(http_mock, side_effect=lambda request: next(answers))
    job_id = await add_job(sql, "crm-sync")
    failing = {await add_request(sql, job_id), await add_request(sql, job_id)}
    async with app_client(settings) as http:
        drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert drained["stats"]["error"] == 2, drained
        [alert] = _events(alerts)  # two final errors of one job: one episode
        assert alert["event"] == "job.failed" and alert["job"] == "crm-sync" and alert["kind"] == "webhook"
        assert alert["source"] == "request" and alert["request_id"] in failing
        assert "404" in alert["error"]

        # A retry is not a final error: no alert, and no recovery either.
        retried = await add_request(sql, job_id, max_attempts=2)
        drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert drained["stats"]["retried"] == 1
        assert len(_events(alerts)) == 1
        await sql.execute("update cron_run_requests set available_at = now() where id = $1::uuid", retried)
        drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert drained["stats"]["done"] == 1
    events = _events(alerts)
    assert [event["event"] for event in events] == ["job.failed", "job.recovered"]
    assert events[1]["source"] == "request" and events[1]["request_id"] == retried
    assert events[1]["recovered_from"] == ["failed"]


async def _arrange_overdue(sql) -> dict[str, str]:
    """Jobs whose schedules stopped firing, and jobs that must not be reported."""
    ids = {
        # Every 5 minutes, created an hour ago, never ran: overdue (2 x 5 min + 5 min grace).
        "stalled": await add_job(sql, "stalled", schedule_type="interval", schedule="every 5m"),
        # Paused: never overdue, however old.
        "paused": await add_job(sql, "paused", schedule_type="cron", schedule="* * * * *", enabled=False),
        # Every 5 minutes and it ran a minute ago: fine.
        "healthy": await add_job(sql, "healthy", schedule_type="interval", schedule="5m"),
        # Daily, and only a day old: one missed day is not yet two intervals.
        "daily": await add_job(sql, "daily", schedule_type="cron", schedule="0 6 * * *", timezone="Europe/Berlin"),
    }
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '1 hour', next_run_at = now() + interval '1 hour' "
        "where name in ('stalled', 'paused', 'healthy')"
    )
    await sql.execute("update cron_jobs set last_run_at = now() - interval '1 minute' where name = 'healthy'")
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '1 day', next_run_at = now() + interval '1 hour' "
        "where name = 'daily'"
    )
    # A vercel.json cron (cleanup-heartbeats runs daily at 03:17 UTC) that has
    # not fired for three days: Vercel stopped calling it.
    await sql.execute("update cron_jobs set created_at = now() - interval '3 days' where name = 'cleanup-heartbeats'")
    return ids


async def test_the_schedule_tick_reports_a_job_that_stopped_firing_once(make_settings, sql, db, http_mock):
    settings = _settings(make_settings)
    alerts = _alerts(http_mock)
    hook_route(http_mock, return_value=httpx.Response(200))
    await _arrange_overdue(sql)
    async with app_client(settings) as http:
        health = await http.get("/api/health")
        # Deadlines are computed by the tick; until it has run, nothing is known to be overdue.
        assert health.json()["overdue_jobs"] == 0

        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
        assert tick["status"] == "ok", tick
        assert tick["stats"]["alerts"] == {
            "overdue": 2,
            "repeats": 0,
            "abandoned": 0,
            "sent": 2,
            "failed": 0,
            "pending": 0,
        }
        events = _events(alerts)
        assert sorted(event["job"] for event in events) == ["cleanup-heartbeats", "stalled"]
        assert {event["event"] for event in events} == {"job.overdue"}
        stalled = next(event for event in events if event["job"] == "stalled")
        assert stalled["schedule"] == "every 5m" and stalled["schedule_type"] == "interval"
        assert stalled["last_started_at"] is None and stalled["due_by"] and stalled["overdue_since"]
        vercel = next(event for event in events if event["job"] == "cleanup-heartbeats")
        assert vercel["schedule_type"] == "vercel" and vercel["schedule"] == "17 3 * * *"

        health = await http.get("/api/health")
        assert health.status_code == 200 and health.json()["overdue_jobs"] == 2
        # No secret needed, so no names: just the count.
        assert "stalled" not in health.text and "cleanup" not in health.text

        # The next ticks find the same jobs overdue and say nothing more.
        for _ in range(2):
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert tick["stats"]["alerts"]["overdue"] == 0
        assert len(_events(alerts)) == 2

        # Resuming the paused job restarts its clock: it is not overdue the minute it is back.
        await sql.execute("update cron_jobs set enabled = true where name = 'paused'")
        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
        assert tick["stats"]["alerts"]["overdue"] == 0
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 2

        # The stalled job's next run (its request, drained) ends the episode: job.recovered, once.
        stalled_id = await sql.fetchval("select id::text from cron_jobs where name = 'stalled'")
        await add_request(sql, stalled_id)
        drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert drained["stats"]["done"] >= 1, drained
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 1
        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
    events = _events(alerts)
    assert [event["event"] for event in events[2:]] == ["job.recovered"]
    assert events[2]["job"] == "stalled" and events[2]["recovered_from"] == ["overdue"]
    assert events[2]["overdue_since"] == stalled["overdue_since"] and events[2]["failing_since"] is None


async def test_health_still_counts_when_every_cron_stopped_after_the_last_tick(make_settings, sql, db, http_mock):
    # The dead man's switch must work when the tick itself is dead: the job ran
    # once more after the last tick recorded its deadline, then nothing did.
    _alerts(http_mock)
    job_id = await add_job(sql, "minutely", schedule_type="interval", schedule="5m")
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '2 hours', last_run_at = now() - interval '1 minute', "
        "next_run_at = now() + interval '1 hour' where id = $1::uuid",
        job_id,
    )
    async with app_client(_settings(make_settings)) as http:
        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
        assert tick["stats"]["alerts"]["overdue"] == 0
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 0
        # An hour later, as the database sees it: the last tick's record is an
        # hour old, and the job's last start half a minute younger than that.
        await sql.execute(
            "update cron_job_alert_state set due_basis = due_basis - interval '1 hour', "
            "due_by = due_by - interval '1 hour' where job_id = $1::uuid",
            job_id,
        )
        await sql.execute(
            "update cron_jobs set last_run_at = last_run_at - interval '1 hour' + interval '30 seconds' "
            "where id = $1::uuid",
            job_id,
        )
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 1


async def test_a_paused_job_is_never_overdue(make_settings, sql, db, http_mock):
    alerts = _alerts(http_mock)
    await add_job(sql, "paused", schedule_type="interval", schedule="1m", enabled=False)
    # A paused vercel.json cron too: Vercel's calls of it are skipped, which is not overdue.
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '1 day', enabled = false "
        "where name in ('paused', 'check-stale')"
    )
    async with app_client(_settings(make_settings)) as http:
        for _ in range(2):
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert tick["stats"]["alerts"]["overdue"] == 0, tick
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 0
    assert _events(alerts) == []


async def test_an_alert_endpoint_answering_500_does_not_fail_the_run(make_settings, sql, db, http_mock):
    settings = _settings(make_settings)
    alerts = _alerts(http_mock, status=500)
    await _arrange_overdue(sql)
    failed = await run_job(FAILING_CHECK_STALE, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert failed.status == "error" and failed.error == "RuntimeError: disk on fire"  # its own error, nothing else
    assert failed.stats["alerts"]["failed"] == 1 and failed.stats["alerts"]["pending"] == 1
    async with app_client(settings) as http:
        tick = await http.get("/api/cron/schedule", headers=AUTH)
        good = await http.get("/api/cron/check-stale", headers=AUTH)
    assert tick.status_code == 200 and tick.json()["status"] == "ok"
    stats = tick.json()["stats"]["alerts"]
    # The job.failed is not due again yet (backoff): the two overdue events are tried, and wait.
    assert stats["overdue"] == 2 and stats["sent"] == 0 and stats["failed"] == 2 and stats["pending"] == 2
    assert all("HTTP 500" in line and ALERT_URL not in line for line in stats["errors"])
    assert good.status_code == 200 and good.json()["status"] == "ok"
    assert [event["event"] for event in _events(alerts)] == [
        "job.failed",
        "job.overdue",
        "job.overdue",
        "job.recovered",
    ]
    # Nothing is dropped: every event waits for its retry.
    assert await _outbox(sql) == 4
    assert await sql.fetchval("select count(*) from cron_alert_deliveries where last_error like 'HTTP 500%'") == 4


async def test_an_unreachable_alert_endpoint_does_not_fail_the_run(make_settings, sql, db, http_mock):
    http_mock.post(ALERT_URL).mock(side_effect=httpx.ConnectError("refused"))
    await run_job(FAILING_CHECK_STALE, db=db, settings=_settings(make_settings), trigger=Trigger.MANUAL)
    async with app_client(_settings(make_settings)) as http:
        good = await http.get("/api/cron/check-stale", headers=AUTH)
    assert good.status_code == 200 and good.json()["status"] == "ok"


async def test_without_an_alert_url_nothing_is_sent_and_nothing_piles_up(make_settings, sql, db, http_mock):
    quiet = http_mock.route(host="alerts.example.test").mock(return_value=httpx.Response(204))
    settings = make_settings()
    await run_job(FAILING_CHECK_STALE, db=db, settings=settings, trigger=Trigger.MANUAL)
    # The episode opened and its event is recorded (the console shows it); nobody to tell.
    assert await sql.fetchval("select count(*) from cron_alert_events where fanned_out_at is null") == 1
    async with app_client(settings) as http:
        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
    assert tick["stats"]["alerts"]["sent"] == 0
    assert await sql.fetchval("select count(*) from cron_alert_events where fanned_out_at is null") == 0
    assert await sql.fetchval("select count(*) from cron_alert_deliveries") == 0 and not quiet.called


async def test_dry_runs_say_nothing_about_a_jobs_health(make_settings, sql, db, http_mock):
    alerts = _alerts(http_mock)
    settings = _settings(make_settings)
    await run_job(FAILING_CHECK_STALE, db=db, settings=settings, trigger=Trigger.MANUAL, dry_run=True)
    assert _events(alerts) == [] and await _outbox(sql) == 0
    assert await sql.fetchval("select count(*) from cron_alert_events") == 0


async def test_concurrent_ticks_open_one_overdue_episode(settings, sql, db):
    await _arrange_overdue(sql)
    deadlines = [overdue_deadline(job) for job in await list_jobs_to_watch(db, limit=100)]
    other = database_for(settings)
    try:
        answers = await asyncio.gather(
            *(sweep_overdue_jobs(database, deadlines=deadlines) for database in (db, other, db, other))
        )
    finally:
        await other.close()
    assert sum(answer.opened for answer in answers) == 2
    jobs = await sql.fetch("select payload ->> 'job' as job from cron_alert_events where event = 'job.overdue'")
    assert sorted(row["job"] for row in jobs) == ["cleanup-heartbeats", "stalled"]
    assert await sql.fetchval("select count(*) from cron_job_alert_state where overdue_since is not null") == 2


def test_overdue_deadlines_follow_the_schedule():
    from datetime import UTC, datetime, timedelta

    from lib.db.queries.alerts import WatchedJob

    def due(
        schedule_type: str,
        schedule: str,
        basis: datetime,
        timezone: str = "UTC",
        grace: timedelta = timedelta(minutes=5),
    ) -> datetime | None:
        job = WatchedJob("id", "job", schedule, schedule_type, timezone, basis, basis.isoformat(), grace)
        return overdue_deadline(job).due_by

    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    # Two intervals plus five minutes of grace.
    assert due("interval", "every 2h", monday) == datetime(2026, 11, 23, 13, 5, tzinfo=UTC)
    assert due("interval", "3600000ms", monday) == datetime(2026, 11, 23, 11, 5, tzinfo=UTC)
    # Cron: the second fire after the last start, so weekends are not "missed" by a weekday job.
    friday = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert due("cron", "0 9 * * 1-5", friday) == datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    # vercel rows: their vercel.json cron, in UTC whatever the row's timezone says.
    assert due("vercel", "*/5 * * * *", monday, timezone="Asia/Tokyo") == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    # Each job's own overdue_grace.
    assert due("interval", "every 2h", monday, grace=timedelta(0)) == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    # A schedule the schedule job would refuse has no deadline (schedule_error reports it).
    assert due("cron", "not a cron", monday) is None


async def test_an_alert_payload_names_the_job_and_nothing_secret(make_settings, sql, db, http_mock):
    alerts = _alerts(http_mock)
    await run_job(FAILING_CHECK_STALE, db=db, settings=_settings(make_settings), trigger=Trigger.MANUAL)
    [call] = alerts.calls
    text = call.request.content.decode()
    assert WEBHOOK_SECRET not in text and "test-secret" not in text and HOOK not in text


async def test_a_jobs_own_overdue_grace_moves_its_deadline(make_settings, sql, db, http_mock):
    _alerts(http_mock)
    job_id = await add_job(sql, "hourly", schedule_type="interval", schedule="1h")
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '2 hours 10 minutes', next_run_at = now() + interval '1h' "
        "where id = $1::uuid",
        job_id,
    )
    async with app_client(_settings(make_settings)) as http:
        # Two hours and the default 5 minutes of grace have passed: overdue.
        tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
        assert tick["stats"]["alerts"]["overdue"] == 1
        # A grace of 30 minutes recomputes the deadline at the next tick: no longer overdue.
        await sql.execute("update cron_jobs set overdue_grace = interval '30 minutes' where id = $1::uuid", job_id)
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 0
        await http.get("/api/cron/schedule", headers=AUTH)
        assert (await http.get("/api/health")).json()["overdue_jobs"] == 0
    due = await sql.fetchval(
        "select extract(epoch from due_by - due_basis)::int from cron_job_alert_state where job_id = $1::uuid", job_id
    )
    assert due == 2 * 3600 + 30 * 60
