"""run-requests: the drain, its SQL, retries, crash recovery, overlap and deadlines, through both adapters."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from lib.db import Database, DatabaseError
from lib.db.statuses import Trigger
from lib.deadline import Deadline
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.registry import JOBS
from lib.jobs.run_requests import JOB, drain
from lib.ledger import RunReport
from lib.migrate import vercel_crons
from lib.outbound.webhooks import BODY_PREVIEW_BYTES, verify_signature
from lib.runner import run_job
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import add_job, add_requests
from tests.fakes.counting import CountingDatabase
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, Reply, hook_route, local_receiver

# -- helpers ------------------------------------------------------------------


@pytest.fixture
def hook_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)


async def fetch(sql: asyncpg.Connection, request_id: str) -> dict[str, Any]:
    row = await sql.fetchrow("select * from cron_run_requests where id = $1", request_id)
    assert row is not None
    data = dict(row)
    data["result"] = json.loads(data["result"]) if data["result"] is not None else None
    return data


async def statuses(sql: asyncpg.Connection) -> Counter[str]:
    rows = await sql.fetch("select status, count(*)::int as n from cron_run_requests group by status")
    return Counter({row["status"]: row["n"] for row in rows})


async def make_due(sql: asyncpg.Connection) -> None:
    """Skip the backoff: what the clock would do."""
    await sql.execute("update cron_run_requests set available_at = now() where status = 'queued'")


async def run_drain(db: Database, settings: Settings, **options: Any) -> RunReport:
    return await run_job(JOB, db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS, **options)


def settle_item(claimed: dict[str, Any], outcome: str, result: dict[str, Any]) -> dict[str, Any]:
    """One element of settle_run_requests' array, for a row a claim returned."""
    return {"id": claimed["id"], "claim_token": claimed["claim_token"], "outcome": outcome, "result": result}


# -- request_run: the write path ----------------------------------------------


async def test_request_run_queues_a_request_and_returns_its_id(db: Database, sql: asyncpg.Connection) -> None:
    [row] = await db.call("request_run", job_name="check-stale", requested_by="dashboard", payload={"x": 1})
    stored = await fetch(sql, row["id"])
    assert row["status"] == "queued" and row["project"] == "default"
    assert stored["status"] == "queued"
    assert stored["requested_by"] == "dashboard"
    assert stored["payload"] == json.dumps({"x": 1})
    assert stored["attempts"] == 0 and stored["max_attempts"] == 5
    assert str(stored["job_id"]) == await sql.fetchval("select id::text from cron_jobs where name = 'check-stale'")


async def test_request_run_finds_jobs_by_project(db: Database, sql: asyncpg.Connection) -> None:
    job_id = await add_job(sql, "nightly", project_id="acme")
    [row] = await db.call("request_run", job_name="nightly", project_id="acme")
    assert row["job_id"] == job_id and row["project"] == "acme"
    with pytest.raises(DatabaseError, match="unknown job 'nightly' in project 'default'"):
        await db.call("request_run", job_name="nightly")


@pytest.mark.parametrize(
    ("job", "payload", "message"),
    [
        ("no-such-job", None, "unknown job 'no-such-job'"),
        ("check-stale", [1, 2], "payload must be a JSON object"),
        ("check-stale", "text", "payload must be a JSON object"),
        ("paused", None, "is disabled"),
    ],
)
async def test_request_run_refuses_what_can_never_run(
    db: Database, sql: asyncpg.Connection, job: str, payload: Any, message: str
) -> None:
    await add_job(sql, "paused", enabled=False)
    with pytest.raises(DatabaseError, match=message) as caught:
        await db.call("request_run", job_name=job, payload=payload)
    assert caught.value.code == "22023"
    assert await sql.fetchval("select count(*) from cron_run_requests") == 0


# -- builtin jobs -------------------------------------------------------------


async def test_builtin_request_runs_the_job_under_its_own_ledger_row(
    db: Database, sql: asyncpg.Connection, settings: Settings
) -> None:
    await sql.execute("insert into agents (status, last_heartbeat_at) values ('online', now() - interval '1 hour')")
    [queued] = await db.call("request_run", job_name="check-stale", requested_by="test")

    report = await run_drain(db, settings)

    assert report.status == "ok"
    assert report.stats["done"] == 1 and report.stats["claimed"] == 1
    request = await fetch(sql, queued["id"])
    assert request["status"] == "done"
    assert request["picked_up_at"] is not None and request["completed_at"] is not None
    assert request["attempts"] == 1 and request["locked_until"] is None
    result = request["result"]
    assert result["status"] == "ok" and result["stats"]["marked_offline"] == 1
    nested = await sql.fetchrow("select * from cron_runs where id = $1", result["run_id"])
    assert nested["job"] == "check-stale" and nested["trigger"] == "run-request"
    assert nested["request_id"] == queued["id"] and nested["status"] == "ok"
    job = await sql.fetchrow("select * from cron_jobs where name = 'check-stale'")
    assert job["last_status"] == "ok" and job["last_run_at"] is not None and job["last_duration_ms"] is not None
    assert await sql.fetchval("select count(*) from agents where status = 'offline'") == 1


async def test_builtin_request_from_a_schedule_is_recorded_with_trigger_schedule(
    db: Database, sql: asyncpg.Connection, settings: Settings
) -> None:
    [queued] = await db.call("request_run", job_name="cleanup-heartbeats", requested_by="schedule")

    report = await run_drain(db, settings)

    assert report.stats["done"] == 1
    result = (await fetch(sql, queued["id"]))["result"]
    assert await sql.fetchval("select trigger from cron_runs where id = $1", result["run_id"]) == "schedule"


async def test_builtin_gets_the_request_payload_else_the_jobs(
    db: Database, sql: asyncpg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def echo(ctx: JobContext) -> JobResult:
        return JobResult(stats={"payload": ctx.payload, "trigger": ctx.trigger})

    # Registered in the one registry, as any job added later would be.
    monkeypatch.setitem(JOBS, "echo", Job(name="echo", run=echo, summary="echo", max_limit=1))
    job_id = await add_job(sql, "echo-job", kind="builtin", target="echo", payload={"from": "job"})
    [own] = await add_requests(sql, job_id, payload={"from": "request"})
    [inherited] = await add_requests(sql, job_id)

    report = await run_drain(db, settings)

    assert report.stats["done"] == 2
    assert (await fetch(sql, own))["result"]["stats"] == {"payload": {"from": "request"}, "trigger": "run-request"}
    assert (await fetch(sql, inherited))["result"]["stats"] == {"payload": {"from": "job"}, "trigger": "run-request"}


async def test_failing_builtin_is_retried_then_errors(
    db: Database, sql: asyncpg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: JobContext) -> JobResult:
        raise RuntimeError("boom")

    monkeypatch.setitem(JOBS, "broken", Job(name="broken", run=broken, summary="broken", max_limit=1))
    job_id = await add_job(sql, "broken", kind="builtin", target="broken")
    [request_id] = await add_requests(sql, job_id, max_attempts=2)

    await run_drain(db, settings)
    first = await fetch(sql, request_id)
    assert first["status"] == "queued" and first["attempts"] == 1 and first["completed_at"] is None
    assert first["result"]["error"] == "RuntimeError: boom"

    await make_due(sql)
    await run_drain(db, settings)
    final = await fetch(sql, request_id)
    assert final["status"] == "error" and final["attempts"] == 2 and final["completed_at"] is not None
    assert final["result"]["error"] == "RuntimeError: boom (gave up after 2 attempts)"
    assert await sql.fetchval("select count(*) from cron_runs where job = 'broken' and status = 'error'") == 2


async def test_busy_builtin_goes_back_to_the_queue_without_spending_an_attempt(
    db: Database, sql: asyncpg.Connection, settings: Settings
) -> None:
    # Another run of check-stale holds its lease.
    await sql.execute(
        "insert into cron_locks (job, holder, locked_until) values ('check-stale', '1', now() + interval '1 minute')"
    )
    [queued] = await db.call("request_run", job_name="check-stale")

    report = await run_drain(db, settings)

    request = await fetch(sql, queued["id"])
    assert request["status"] == "queued" and request["attempts"] == 0
    assert request["result"] is None and request["locked_until"] is None and request["claim_token"] is None
    assert request["available_at"] > await sql.fetchval("select now() + interval '10 seconds'")
    assert report.stats["released"] == 1 and report.has_more

    await sql.execute("delete from cron_locks")
    await make_due(sql)
    await run_drain(db, settings)
    request = await fetch(sql, queued["id"])
    assert request["status"] == "done" and request["attempts"] == 1


# -- webhook jobs -------------------------------------------------------------


async def test_webhook_gets_a_signed_body(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, return_value=httpx.Response(200, text="x" * 5000))
    await add_job(sql, "deploy-hook", payload={"from": "job"})
    [queued] = await db.call("request_run", job_name="deploy-hook", payload={"n": 1})

    await run_drain(db, hook_settings)

    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert verify_signature(WEBHOOK_SECRET, sent.content, sent.headers["x-cronrelay-signature"])
    assert not verify_signature("some-other-secret", sent.content, sent.headers["x-cronrelay-signature"])
    body = json.loads(sent.content)
    assert set(body) == {"job", "request_id", "project_id", "payload", "requested_at"}
    assert body["job"] == "deploy-hook" and body["request_id"] == queued["id"]
    assert body["project_id"] == "default" and body["payload"] == {"n": 1}
    assert datetime.fromisoformat(body["requested_at"]) == datetime.fromisoformat(queued["requested_at"])

    request = await fetch(sql, queued["id"])
    assert request["status"] == "done" and request["completed_at"] is not None
    assert set(request["result"]) == {"status_code", "duration_ms", "body"}
    assert request["result"]["status_code"] == 200
    assert request["result"]["body"] == "x" * BODY_PREVIEW_BYTES
    job = await sql.fetchrow("select * from cron_jobs where name = 'deploy-hook'")
    assert job["last_status"] == "ok" and job["last_duration_ms"] is not None and job["last_run_at"] is not None


async def test_webhook_500_is_retried_and_then_done(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, side_effect=[httpx.Response(500, text="down"), httpx.Response(200, text="ok")])
    job_id = await add_job(sql, "flaky")
    [request_id] = await add_requests(sql, job_id)

    first = await run_drain(db, hook_settings)
    request = await fetch(sql, request_id)
    assert first.status == "partial" and first.stats["retried"] == 1
    assert request["status"] == "queued" and request["attempts"] == 1 and request["completed_at"] is None
    assert request["result"]["error"] == "webhook answered HTTP 500" and request["result"]["status_code"] == 500
    assert request["available_at"] > await sql.fetchval("select now() + interval '10 seconds'")
    assert (await sql.fetchval("select last_status from cron_jobs where id = $1::uuid", job_id)) == "error"

    # Not due yet: a run now leaves it alone.
    await run_drain(db, hook_settings)
    assert route.call_count == 1

    await make_due(sql)
    second = await run_drain(db, hook_settings)
    request = await fetch(sql, request_id)
    assert second.status == "ok" and route.call_count == 2
    assert request["status"] == "done" and request["attempts"] == 2 and request["completed_at"] is not None
    assert request["result"]["status_code"] == 200 and request["result"]["body"] == "ok"
    assert (await sql.fetchval("select last_status from cron_jobs where id = $1::uuid", job_id)) == "ok"


async def test_webhook_404_is_an_error_at_once(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, return_value=httpx.Response(404, text="no such hook"))
    job_id = await add_job(sql, "gone")
    [request_id] = await add_requests(sql, job_id)

    await run_drain(db, hook_settings)
    await make_due(sql)
    await run_drain(db, hook_settings)

    request = await fetch(sql, request_id)
    assert route.call_count == 1
    assert request["status"] == "error" and request["attempts"] == 1 and request["completed_at"] is not None
    assert request["result"]["error"] == "webhook answered HTTP 404"
    assert request["result"]["status_code"] == 404 and request["result"]["body"] == "no such hook"
    assert (await sql.fetchval("select last_status from cron_jobs where id = $1::uuid", job_id)) == "error"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(408),
        httpx.Response(429, headers={"retry-after": "600"}),
        httpx.Response(503),
        httpx.ConnectError("refused"),
    ],
    ids=["408", "429", "503", "connect-error"],
)
async def test_transient_failures_are_retried(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter, answer: Any
) -> None:
    hook_route(http_mock, side_effect=[answer])
    job_id = await add_job(sql, "shaky")
    [request_id] = await add_requests(sql, job_id)

    await run_drain(db, hook_settings)

    request = await fetch(sql, request_id)
    assert request["status"] == "queued" and request["attempts"] == 1 and request["completed_at"] is None
    assert request["result"]["error"]
    if isinstance(answer, httpx.Response) and answer.status_code == 429:
        # Retry-After is honoured.
        assert request["available_at"] > await sql.fetchval("select now() + interval '590 seconds'")


async def test_webhook_timeout_is_retried_until_the_attempts_end_in_error(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True, webhook_timeout_seconds=1.0
    )
    # A second, not less: the receiver runs in this event loop, and each attempt's body must reach it
    # before the timeout; with 0.3 s a loaded machine once lost the second attempt's body.
    async with local_receiver(delay=10) as (url, bodies):
        job_id = await add_job(sql, "slow", target=url)
        [request_id] = await add_requests(sql, job_id, max_attempts=2)

        await run_drain(db, settings)
        request = await fetch(sql, request_id)
        assert request["status"] == "queued" and request["attempts"] == 1
        assert request["result"]["error"] == "webhook timed out after 1.0s"

        await make_due(sql)
        await run_drain(db, settings)
        request = await fetch(sql, request_id)
        assert request["status"] == "error" and request["attempts"] == 2 and request["completed_at"] is not None
        assert request["result"]["error"] == "webhook timed out after 1.0s (gave up after 2 attempts)"
        assert len(bodies) == 2


async def test_missing_signing_secret_holds_webhooks_and_runs_builtins(
    db: Database,
    sql: asyncpg.Connection,
    settings: Settings,
    make_settings: Callable[..., Settings],
    http_mock: respx.MockRouter,
) -> None:
    # A configuration problem is the deployment's, not the request's: held,
    # no attempt spent, the reason on the row and the setting named by the run.
    route = hook_route(http_mock, return_value=httpx.Response(200))
    [hook] = await add_requests(sql, await add_job(sql, "unsigned"))
    [builtin] = await db.call("request_run", job_name="check-stale")

    report = await run_drain(db, settings)

    request = await fetch(sql, hook)
    assert (request["status"], request["attempts"], request["completed_at"]) == ("queued", 0, None)
    assert "WEBHOOK_SIGNING_SECRET is not set" in request["held_reason"]
    assert report.stats["held"] == 1
    assert any("WEBHOOK_SIGNING_SECRET" in reason for reason in report.stats["held_for"])
    assert route.call_count == 0
    assert (await fetch(sql, builtin["id"]))["status"] == "done"
    [listed] = [row for row in await db.call("list_run_requests") if row["id"] == hook]
    assert listed["held"] and "WEBHOOK_SIGNING_SECRET" in listed["held_reason"]

    # A second drain without the setting spends nothing either.
    await run_drain(db, settings)
    assert (await fetch(sql, hook))["attempts"] == 0

    # Once the setting is there, it runs, once.
    await run_drain(db, make_settings(webhook_signing_secret=WEBHOOK_SECRET))
    request = await fetch(sql, hook)
    assert (request["status"], request["attempts"], request["held_reason"]) == ("done", 1, None)
    assert route.call_count == 1


# -- requests that can never run, in a batch with ones that can -----------------


async def test_bad_requests_error_clearly_and_the_rest_of_the_batch_runs(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings], http_mock: respx.MockRouter
) -> None:
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET)  # ALLOW_HTTP_WEBHOOKS off
    good_route = hook_route(http_mock, return_value=httpx.Response(200, text="ok"))
    plain_route = http_mock.post("http://example.com/hook").mock(return_value=httpx.Response(200))
    good = await add_job(sql, "good")
    cases = {
        "unknown builtin job 'ghost'": await add_job(sql, "ghost", kind="builtin", target="ghost"),
        "must be an https URL, got http://example.com": await add_job(sql, "plain", target="http://example.com/hook"),
        "needs ALLOW_HTTP_WEBHOOKS=true": await add_job(sql, "local", target="http://127.0.0.1:9/hook"),
        "payload must be a JSON object, got a string": await add_job(sql, "odd-job-payload", payload="text"),
        "it is the drain itself": await sql.fetchval("select id::text from cron_jobs where name = 'run-requests'"),
    }
    expected = {(await add_requests(sql, job_id))[0]: message for message, job_id in cases.items()}
    [array_payload] = await add_requests(sql, good, payload=[1, 2])
    expected[array_payload] = "payload must be a JSON object, got an array"
    [fine_hook] = await add_requests(sql, good, payload={"ok": True})
    [fine_builtin] = await db.call("request_run", job_name="cleanup-heartbeats")
    # A paused job's request is not bad, only held (DESIGN.md, Pausing): it waits, untouched.
    [held] = await add_requests(sql, await add_job(sql, "paused", enabled=False))

    report = await run_drain(db, settings)

    assert report.stats["batches"] == 1 and report.stats["error"] == len(expected) and report.stats["done"] == 2
    for request_id, message in expected.items():
        request = await fetch(sql, request_id)
        assert request["status"] == "error", message
        assert message in request["result"]["error"]
        assert request["completed_at"] is not None and request["locked_until"] is None
    assert (await fetch(sql, fine_hook))["status"] == "done"
    assert (await fetch(sql, fine_builtin["id"]))["status"] == "done"
    assert good_route.call_count == 1 and plain_route.call_count == 0
    waiting = await fetch(sql, held)
    assert (waiting["status"], waiting["attempts"], waiting["picked_up_at"]) == ("queued", 0, None)


# -- overlap, crash recovery, deadlines -----------------------------------------


async def test_four_concurrent_drains_deliver_each_request_exactly_once(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings], http_mock: respx.MockRouter
) -> None:
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET, run_request_batch_size=10)
    received: Counter[str] = Counter()

    async def receive(request: httpx.Request) -> httpx.Response:
        received[json.loads(request.content)["request_id"]] += 1
        await asyncio.sleep(0.001)  # let the drains interleave
        return httpx.Response(200)

    hook_route(http_mock, side_effect=receive)
    queued = set(await add_requests(sql, await add_job(sql, "fanout"), 400))

    # Runs of one job share its lease, so the drains are called directly: four
    # claimers racing over the same rows, as four overlapping deliveries would.
    def context(n: int) -> JobContext:
        return JobContext(
            db=db, settings=settings, deadline=Deadline.after(40), run_id=n, trigger=Trigger.MANUAL, request_id=f"d{n}"
        )

    results = await asyncio.gather(*(drain(context(n)) for n in range(4)))

    assert set(received) == queued
    assert set(received.values()) == {1}
    assert sum(result.stats["claimed"] for result in results) == 400
    assert sum(result.stats["done"] for result in results) == 400
    assert await statuses(sql) == Counter({"done": 400})
    assert await sql.fetchval("select count(*) from cron_run_requests where attempts <> 1") == 0


async def test_crashed_claims_are_recovered_and_a_late_settle_changes_nothing(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, return_value=httpx.Response(200, text="ok"))
    await add_requests(sql, await add_job(sql, "recoverable"), 5)

    # A drain claims the batch and dies before settling it.
    crashed = await db.call("claim_run_requests", p_batch_size=10, p_lease_seconds=60)
    assert len(crashed) == 5 and await statuses(sql) == Counter({"running": 5})
    await sql.execute("update cron_run_requests set locked_until = now() - interval '1 second'")

    report = await run_drain(db, hook_settings)

    assert report.status == "ok" and report.stats["recovered"] == 5 and report.stats["done"] == 5
    assert route.call_count == 5
    before = {str(r["id"]): dict(r) for r in await sql.fetch("select * from cron_run_requests")}
    assert all(r["status"] == "done" and r["attempts"] == 2 for r in before.values())

    # The crashed drain wakes up and settles under its old tokens.
    late = [settle_item(r, "error", {"error": "late"}) for r in crashed]
    assert await db.call("settle_run_requests", p_outcomes=late) == []
    after = {str(r["id"]): dict(r) for r in await sql.fetch("select * from cron_run_requests")}
    assert after == before


async def test_a_late_settle_cannot_touch_a_request_another_drain_holds(db: Database, sql: asyncpg.Connection) -> None:
    await add_requests(sql, await add_job(sql, "contested"), 3)
    first = await db.call("claim_run_requests", p_batch_size=10, p_lease_seconds=60)
    await sql.execute("update cron_run_requests set locked_until = now() - interval '1 second'")
    second = await db.call("claim_run_requests", p_batch_size=10, p_lease_seconds=60)
    assert {r["id"] for r in second} == {r["id"] for r in first}
    assert all(r["recovered"] and r["attempts"] == 2 for r in second)

    stale = [settle_item(r, "done", {}) for r in first]
    assert await db.call("settle_run_requests", p_outcomes=stale) == []
    assert await statuses(sql) == Counter({"running": 3})

    current = [settle_item(r, "done", {"ok": 1}) for r in second]
    assert len(await db.call("settle_run_requests", p_outcomes=current)) == 3
    assert await statuses(sql) == Counter({"done": 3})
    # A duplicate of the same settle is a no-op too.
    assert await db.call("settle_run_requests", p_outcomes=current) == []


async def test_a_request_that_keeps_killing_its_drain_ends_in_error(
    db: Database, sql: asyncpg.Connection, hook_settings: Settings, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, return_value=httpx.Response(200))
    [request_id] = await add_requests(sql, await add_job(sql, "poison"), max_attempts=3)
    await sql.execute(
        "update cron_run_requests set status = 'running', attempts = 3, claim_token = gen_random_uuid(), "
        "picked_up_at = now() - interval '5 minutes', locked_until = now() - interval '1 minute'"
    )

    await run_drain(db, hook_settings)

    request = await fetch(sql, request_id)
    assert request["status"] == "error" and request["attempts"] == 3 and request["completed_at"] is not None
    assert request["result"]["error"].startswith("abandoned: no result before its lease expired")
    assert route.call_count == 0


async def test_slow_webhook_and_small_budget_end_partial_with_nothing_left_running(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        webhook_signing_secret=WEBHOOK_SECRET,
        allow_http_webhooks=True,
        run_time_budget_seconds=3,
        lease_seconds=10,
        run_request_batch_size=4,
    )
    async with local_receiver(delay=30) as (url, bodies):
        await add_requests(sql, await add_job(sql, "sluggish", target=url), 10)
        async with app_client(settings) as http:
            response = await http.post("/api/cron/run-requests", headers=AUTH)

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "partial" and body["has_more"] is True
        assert body["stats"]["claimed"] == len(bodies) == 4
        assert await sql.fetchval("select count(*) from cron_run_requests where status = 'running'") == 0
        assert await sql.fetchval("select count(*) from cron_run_requests where locked_until is not null") == 0
        attempted = await sql.fetch("select * from cron_run_requests where attempts > 0")
        assert len(attempted) == 4
        assert all(r["status"] == "queued" and "timed out" in json.loads(r["result"])["error"] for r in attempted)
        assert await statuses(sql) == Counter({"queued": 10})
        run = await sql.fetchrow("select * from cron_runs where job = 'run-requests'")
        assert run["status"] == "partial"


# -- the route: dry_run, limit, round trips -------------------------------------


async def test_dry_run_lists_what_would_run_without_claiming(
    db: Database, sql: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    [builtin] = await db.call("request_run", job_name="check-stale")
    [paused] = await add_requests(sql, await add_job(sql, "paused", enabled=False))

    response = await client.post("/api/cron/run-requests?dry_run=true", headers=AUTH)

    assert response.status_code == 200
    stats = response.json()["stats"]
    # The paused job's request is held, so the next run would not claim it either.
    assert stats["would_run"] == 1 and stats["would_fail"] == 0
    listed = {entry["id"]: entry for entry in stats["requests"]}
    assert listed[builtin["id"]] == {"id": builtin["id"], "job": "check-stale", "kind": "builtin", "attempt": 1}
    assert paused not in listed
    assert await statuses(sql) == Counter({"queued": 2})
    touched = await sql.fetchval(
        "select count(*) from cron_run_requests where attempts > 0 or picked_up_at is not null"
    )
    assert touched == 0


async def test_limit_caps_the_requests_claimed(
    db: Database, sql: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    job_id = await sql.fetchval("select id::text from cron_jobs where name = 'cleanup-heartbeats'")
    await add_requests(sql, job_id, 3)

    response = await client.get("/api/cron/run-requests?limit=1", headers=AUTH)

    body = response.json()
    assert response.status_code == 200 and body["status"] == "partial" and body["has_more"] is True
    assert body["stats"]["claimed"] == 1 and body["stats"]["done"] == 1
    assert await statuses(sql) == Counter({"queued": 2, "done": 1})
    too_many = await client.get(f"/api/cron/run-requests?limit={JOB.max_limit + 1}", headers=AUTH)
    assert too_many.status_code == 422


async def test_a_batch_costs_at_most_two_round_trips(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings], http_mock: respx.MockRouter
) -> None:
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET, run_request_batch_size=20)
    hook_route(http_mock, return_value=httpx.Response(200))
    await add_requests(sql, await add_job(sql, "counted"), 45)
    counting = CountingDatabase(db)

    report = await run_drain(counting, settings)

    assert report.stats["batches"] == 3 and report.stats["done"] == 45
    # 20 + 20 + 5: the short batch shows the queue is empty, so no fourth claim.
    assert counting.calls["claim_run_requests"] == 3
    # Outcomes are settled in groups by time, not per request: a fast drain
    # writes all 45 in one or two calls.
    assert 1 <= counting.calls["settle_run_requests"] <= 3
    # The run itself: one call to begin (begin_run_if_due) and one to end.
    assert (counting.calls["begin_run_if_due"], counting.calls["end_run"]) == (1, 1)
    # Each batch: a claim and at most one settle group (settles go by time, so a
    # slow machine can split a fast drain's outcomes into more groups than batches).
    per_batch = counting.calls["claim_run_requests"] + counting.calls["settle_run_requests"]
    assert per_batch <= 2 * report.stats["batches"]
    assert set(counting.calls) == {"begin_run_if_due", "claim_run_requests", "settle_run_requests", "end_run"}


async def test_the_next_batch_is_claimed_while_a_slow_request_of_the_last_one_is_in_flight(
    db: Database, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True, run_request_batch_size=4)
    hits: list[Hit] = []

    def first_one_slow(hit: Hit, index: int) -> Reply:
        return Reply(delay=2.0 if index == 0 else 0.0)

    async with local_receiver(hits=hits, reply=first_one_slow) as (url, _):
        await add_requests(sql, await add_job(sql, "one-slow", target=url), 12)
        report = await run_drain(db, settings)

    assert report.stats["done"] == 12 and report.stats["batches"] >= 3
    slow = hits[0]
    assert slow.answered is not None
    # No barrier per batch: the other 11 (its own batch and the next two) went
    # out while the slow one was still waiting for its answer.
    assert sum(1 for hit in hits[1:] if hit.arrived < slow.answered) == 11


def test_the_drain_is_a_registered_job_scheduled_every_minute() -> None:
    assert JOBS["run-requests"] is JOB
    assert ("run-requests", "* * * * *") in vercel_crons()
