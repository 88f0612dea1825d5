"""Alerts are a delivery queue: nothing is lost while a receiver is down, nothing is sent twice, and noise control.

The receiver is a real HTTP server on 127.0.0.1 (tests/fakes/webhook.py) and
the app is the real one (its routes, through ASGI); "time passes" by making
waiting deliveries due, since the backoff is minutes to hours.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx

from lib.alerts.deliver import deliver_due
from lib.db import database_for
from lib.db.statuses import Trigger
from lib.deadline import Deadline
from lib.jobs.base import Job, JobContext, JobResult
from lib.outbound.webhooks import verify_signature
from lib.runner import run_job
from tests.conftest import AUTH, app_client
from tests.factories import add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, Reply, hook_route, local_receiver


async def _boom(ctx: JobContext) -> JobResult:
    raise RuntimeError("disk on fire")


FAILING = Job(name="check-stale", run=_boom, summary="fails", max_limit=10)


def _settings(make_settings, url: str, **overrides: Any):
    return make_settings(
        alert_webhook_url=url, allow_http_webhooks=True, webhook_signing_secret=WEBHOOK_SECRET, **overrides
    )


async def _make_due(sql) -> None:
    """As if every waiting delivery's backoff had passed."""
    await sql.execute("update cron_alert_deliveries set available_at = now() where status = 'pending'")


def _received(hits: list[Hit]) -> list[dict[str, Any]]:
    """Bodies the receiver answered 200 to; each must carry a valid signature of its exact bytes."""
    bodies = []
    for hit in hits:
        assert verify_signature(WEBHOOK_SECRET, hit.body, hit.headers.get("x-cronrelay-signature")), hit.body
        bodies.append(json.loads(hit.body))
    return bodies


async def test_a_receiver_down_during_an_episode_gets_every_alert_once_when_it_is_back(
    make_settings, sql, db, http_mock
):
    down = True
    hits: list[Hit] = []
    accepted: list[Hit] = []

    def reply(hit: Hit, index: int) -> Reply:
        if down:
            return Reply(close=True)  # connection dropped: the receiver is down
        accepted.append(hit)
        return Reply(200)

    hook_route(http_mock, return_value=httpx.Response(404))
    async with local_receiver(hits=hits, reply=reply) as (url, _):
        settings = _settings(make_settings, url)
        job_id = await add_job(sql, "crm-sync")
        await add_request(sql, job_id)
        async with app_client(settings) as http:
            # The request fails for good: job.failed opens, and the drain tries to deliver it at once.
            drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
            assert drained["stats"]["error"] == 1
            assert drained["stats"]["alerts"] == {
                "sent": 0,
                "failed": 1,
                "pending": 1,
                "errors": drained["stats"]["alerts"]["errors"],
            }
            # The outage goes on for several retries, each one a tick that finds the delivery due.
            for _ in range(3):
                await _make_due(sql)
                tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
                assert tick["stats"]["alerts"]["failed"] == 1 and tick["stats"]["alerts"]["pending"] == 1
            health = (await http.get("/api/health")).json()
            assert health["alerts_pending"] == 1 and health["alerts_dead"] == 0

            down = False
            await _make_due(sql)
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert tick["stats"]["alerts"]["sent"] == 1 and tick["stats"]["alerts"]["pending"] == 0
            for _ in range(2):
                await _make_due(sql)
                tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
                assert tick["stats"]["alerts"]["sent"] == 0
            health = (await http.get("/api/health")).json()
    assert health["alerts_pending"] == 0 and health["alerts_dead"] == 0
    # Five tries, one arrival; every try carried the same alert_id.
    assert len(hits) == 5
    [arrived] = _received(accepted)
    assert arrived["event"] == "job.failed" and arrived["job"] == "crm-sync"
    assert {json.loads(hit.body)["alert_id"] for hit in hits} == {arrived["alert_id"]}
    row = await sql.fetchrow("select status, attempts, last_error from cron_alert_deliveries")
    assert dict(row) == {"status": "sent", "attempts": 5, "last_error": None}


async def test_a_receiver_that_answers_410_is_dead_at_once_and_health_says_so(make_settings, sql, db, http_mock):
    async with local_receiver(reply=lambda hit, index: Reply(410, body=b"gone\nsecond line")) as (url, bodies):
        settings = _settings(make_settings, url)
        report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
        assert report.stats["alerts"]["dead"] == 1
        async with app_client(settings) as http:
            await _make_due(sql)
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            health = (await http.get("/api/health")).json()
            listed = (await http.get("/api/ops/alerts", headers=AUTH)).json()
    assert len(bodies) == 1 and tick["stats"]["alerts"]["sent"] == 0  # never tried again
    assert health["alerts_dead"] == 1 and health["alerts_pending"] == 0
    [alert] = listed["alerts"]
    assert alert["event"] == "job.failed" and alert["job"] == "check-stale"
    assert alert["deliveries"] == [
        {
            "channel": "webhook",
            "status": "dead",
            "attempts": 1,
            "max_attempts": 10,
            "last_error": "HTTP 410: gone",
            "status_code": 410,
            "sent_at": None,
            "next_attempt_at": None,
        }
    ]


async def test_a_delivery_gives_up_after_alert_max_attempts(make_settings, sql, db, http_mock):
    async with local_receiver(reply=lambda hit, index: Reply(503)) as (url, bodies):
        settings = _settings(make_settings, url, alert_max_attempts=3)
        await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
        for _ in range(4):
            await _make_due(sql)
            await deliver_due(db, settings, Deadline.after(30))
    assert len(bodies) == 3
    row = await sql.fetchrow("select status, attempts, last_error from cron_alert_deliveries")
    assert dict(row) == {"status": "dead", "attempts": 3, "last_error": 'HTTP 503: {"ok":true}'}


async def test_two_schedule_runs_and_a_drain_at_once_never_send_a_delivery_twice(make_settings, settings, sql, db):
    async with local_receiver(delay=0.02) as (url, bodies):
        alerting = _settings(make_settings, url)
        await sql.execute(
            "select public.queue_alert_event('alert.test', jsonb_build_object('n', i)) from generate_series(1, 60) i"
        )
        others = [database_for(alerting) for _ in range(2)]
        try:
            async with app_client(alerting) as http:
                answers = await asyncio.gather(
                    http.get("/api/cron/schedule", headers=AUTH),
                    http.get("/api/cron/run-requests", headers=AUTH),
                    *(deliver_due(database, alerting, Deadline.after(30)) for database in [db, *others]),
                )
        finally:
            for database in others:
                await database.close()
        # Whatever the first round left (50 per claim), later rounds finish.
        for _ in range(3):
            await deliver_due(db, alerting, Deadline.after(30))
    assert all(answer.status_code == 200 for answer in answers[:2] if isinstance(answer, httpx.Response))
    ids = Counter(json.loads(body)["alert_id"] for body in bodies)
    assert len(ids) == 60 and max(ids.values()) == 1
    assert await sql.fetchval("select count(*) from cron_alert_deliveries where status = 'sent'") == 60


async def test_alert_after_failures_waits_for_that_many_failures_in_a_row(make_settings, sql, db, http_mock):
    async with local_receiver() as (url, bodies):
        settings = _settings(make_settings, url)
        await sql.execute("update cron_jobs set alert_after_failures = 3 where name = 'check-stale'")
        for _ in range(2):
            await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
        assert bodies == []
        # A success in between starts the count again, and recovers nothing (no episode was open).
        async with app_client(settings) as http:
            assert (await http.get("/api/cron/check-stale", headers=AUTH)).json()["status"] == "ok"
            assert bodies == []
            reports = [await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL) for _ in range(3)]
            assert [len(bodies) for _ in range(1)] == [1]
            assert "alerts" not in reports[1].stats and reports[2].stats["alerts"]["sent"] == 1
            await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)  # still the same episode
            assert (await http.get("/api/cron/check-stale", headers=AUTH)).json()["status"] == "ok"
        events = [json.loads(body) for body in bodies]
    assert [event["event"] for event in events] == ["job.failed", "job.recovered"]
    assert events[0]["failures"] == 3 and events[0]["run_id"] == reports[2].run_id


async def test_realert_after_repeats_an_open_episode_with_its_count(make_settings, sql, db, http_mock):
    async with local_receiver() as (url, bodies):
        settings = _settings(make_settings, url)
        await sql.execute("update cron_jobs set realert_after = interval '10 minutes' where name = 'check-stale'")
        await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
        async with app_client(settings) as http:
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert tick["stats"]["alerts"]["repeats"] == 0  # not yet ten minutes
            for expected in (1, 2):
                # Ten minutes later, as the database sees it.
                await sql.execute("update cron_job_alert_state set alerted_at = alerted_at - interval '10 minutes'")
                tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
                assert tick["stats"]["alerts"]["repeats"] == 1 and tick["stats"]["alerts"]["sent"] == 1, expected
            assert (await http.get("/api/cron/check-stale", headers=AUTH)).json()["status"] == "ok"
            await sql.execute("update cron_job_alert_state set alerted_at = now() - interval '1 hour'")
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert tick["stats"]["alerts"]["repeats"] == 0  # closed episodes do not repeat
        events = [json.loads(body) for body in bodies]
    assert [(event["event"], event.get("repeat")) for event in events] == [
        ("job.failed", None),
        ("job.failed", 1),
        ("job.failed", 2),
        ("job.recovered", None),
    ]
    assert (
        events[1]["error"] == "RuntimeError: disk on fire" and events[1]["failing_since"] == events[0]["failing_since"]
    )
    assert len({event["alert_id"] for event in events}) == 4  # a repeat is a new alert, not a duplicate


async def test_a_muted_job_sends_nothing_and_still_shows_its_episode(make_settings, sql, db, http_mock):
    async with local_receiver() as (url, bodies):
        settings = _settings(make_settings, url)
        await sql.execute("update cron_jobs set alerts_enabled = false where name = 'check-stale'")
        report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
        async with app_client(settings) as http:
            await http.get("/api/cron/schedule", headers=AUTH)
            listed = (await http.get("/api/ops/alerts", headers=AUTH)).json()
    assert bodies == [] and "alerts" not in report.stats
    open_episodes = await sql.fetch(
        "select j.name from cron_job_alert_state s join cron_jobs j on j.id = s.job_id where s.failed_since is not null"
    )
    assert [row["name"] for row in open_episodes] == ["check-stale"]
    [alert] = listed["alerts"]
    assert alert["event"] == "job.failed" and alert["muted"] is True and alert["deliveries"] == []


async def test_a_repeated_queue_call_finds_the_first_event(db, sql) -> None:
    # An adapter repeats a call whose answer was lost: the key makes the repeat answer the same event.
    first, again = [
        (await db.call("queue_alert_event", p_event="alert.test", p_payload={}, p_dedup_key="alert.test:k1"))[0]
        for _ in range(2)
    ]
    assert first == again
    assert await sql.fetchval("select count(*) from cron_alert_events") == 1
