"""Concurrent edits and history a person can use (issue 20), over the console's API through both adapters.

- A job's version: every write that changes it increments it (SQL by hand
  too); an edit based on an older one is a 409 carrying the job as it is
  now, and changes nothing. Pause, resume and run need no version.
- Every attempt of a run request is kept (status code or error, duration,
  the answer's first 2 KB) and listed on the request.
- Cancel ends a queued or held request, never a running one.
- A retried request shows its retry and cannot be retried again.
- Retry and cancel by filter count first (dry run), then act.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import respx

from lib.settings import Settings
from tests.conftest import AUTH
from tests.factories import add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route

WRITE = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET)


async def version_of(sql: asyncpg.Connection, job: str) -> int:
    value: int = await sql.fetchval("select version from public.cron_jobs where id = $1::uuid", job)
    return value


# -- versions -----------------------------------------------------------------------------------


async def test_every_write_increments_the_version_and_the_engines_own_moves_do_not(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook", schedule_type="interval", schedule="every 2h")
    assert await version_of(sql, job) == 1
    shown = await client.get(f"/api/ops/jobs/{job}", headers=AUTH)
    assert shown.json()["job"]["version"] == 1 and shown.headers["etag"] == '"1"'

    await client.patch(f"/api/ops/jobs/{job}", json={"schedule": "every 3h"}, headers=WRITE)
    assert await version_of(sql, job) == 2
    await client.post(f"/api/ops/jobs/{job}/pause", headers=AUTH)
    assert await version_of(sql, job) == 3
    # An edit by hand counts too.
    await sql.execute("update public.cron_jobs set target = 'https://other.example.test/' where id = $1::uuid", job)
    assert await version_of(sql, job) == 4
    # A run's bookkeeping does not: an operator's form is not stale because the job ran.
    await sql.execute(
        "update public.cron_jobs set last_run_at = now(), last_status = 'ok', next_run_at = now() where id = $1::uuid",
        job,
    )
    assert await version_of(sql, job) == 4


async def test_an_edit_based_on_an_old_version_is_409_with_the_current_job_and_changes_nothing(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    """The probe: B's save reverted A's schedule change and un-paused A's pause."""
    job = await add_job(sql, "hook", schedule_type="interval", schedule="every 2h")
    seen_by_b = (await client.get(f"/api/ops/jobs/{job}", headers=AUTH)).json()["job"]["version"]

    # A changes the schedule, then pauses.
    a = await client.patch(f"/api/ops/jobs/{job}", json={"schedule": "every 5h", "version": seen_by_b}, headers=WRITE)
    assert a.status_code == 200 and a.json()["job"]["version"] == seen_by_b + 1
    assert (await client.post(f"/api/ops/jobs/{job}/pause", headers=AUTH)).status_code == 200

    # B saves the form it opened before: refused, with the job as A left it.
    for headers, body in (
        ({**WRITE, "If-Match": f'"{seen_by_b}"'}, {"schedule": "every 2h", "enabled": True}),
        (WRITE, {"schedule": "every 2h", "enabled": True, "version": seen_by_b}),
    ):
        b = await client.patch(f"/api/ops/jobs/{job}", json=body, headers=headers)
        assert b.status_code == 409, b.text
        assert b.json()["field"] == "version" and "someone else changed this job" in b.json()["error"]
        assert b.json()["job"]["schedule"] == "every 5h" and b.json()["job"]["enabled"] is False
    row = await sql.fetchrow("select schedule, enabled, version from public.cron_jobs where id = $1::uuid", job)
    assert (row["schedule"], row["enabled"], row["version"]) == ("every 5h", False, seen_by_b + 2)

    # With the current version, B's edit goes through.
    current = (await client.get(f"/api/ops/jobs/{job}", headers=AUTH)).headers["etag"]
    b = await client.patch(f"/api/ops/jobs/{job}", json={"name": "hook-b"}, headers={**WRITE, "If-Match": current})
    assert b.status_code == 200 and b.json()["job"]["name"] == "hook-b"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"If-Match": "abc"}, {}),
        ({}, {"version": "3"}),
        ({}, {"version": 10**30}),
        ({}, {"version": True}),
        ({"If-Match": '"1"'}, {"version": 2}),
    ],
)
async def test_a_malformed_version_is_422(
    client: httpx.AsyncClient, sql: asyncpg.Connection, headers: dict[str, str], body: dict[str, Any]
) -> None:
    job = await add_job(sql, "hook")
    response = await client.patch(f"/api/ops/jobs/{job}", json={"name": "x", **body}, headers={**WRITE, **headers})
    assert response.status_code == 422 and response.json()["field"] == "version", response.text


async def test_the_version_is_checked_under_the_rows_lock(db: Any, sql: asyncpg.Connection) -> None:
    """The SQL checks again: an edit that slipped in after lib/manage read the job still wins over a stale one."""
    from lib.db.queries.manage import ops_update_job
    from lib.manage import ManageError
    from lib.manage.errors import translated

    job = await add_job(sql, "hook")
    await sql.execute("update public.cron_jobs set name = 'moved' where id = $1::uuid", job)
    with pytest.raises(ManageError) as refused:
        with translated():
            await ops_update_job(db, job_id=UUID(job), changes={"name": "stale"}, version=1)
    assert (refused.value.status, refused.value.field) == (409, "version")
    assert await sql.fetchval("select name from public.cron_jobs where id = $1::uuid", job) == "moved"


# -- every attempt ------------------------------------------------------------------------------------


async def test_every_attempt_is_kept_and_listed_on_the_request(
    client: httpx.AsyncClient, sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    answers = [
        httpx.Response(503, text="busy " + "x" * 5000),
        httpx.ConnectError("refused"),
        httpx.Response(200, text="ok"),
    ]
    hook_route(http_mock, side_effect=answers)
    job = await add_job(sql, "hook")
    request = await add_request(sql, job)
    for _ in answers:
        drained = await client.get("/api/cron/run-requests", headers=AUTH)
        assert drained.status_code == 200, drained.text
        # The backoff is not what this test is about: due again now.
        await sql.execute("update public.cron_run_requests set available_at = now() where id = $1::uuid", request)

    shown = await client.get(f"/api/ops/requests/{request}", headers=AUTH)
    assert shown.status_code == 200, shown.text
    assert shown.json()["request"]["status"] == "done"
    attempts = shown.json()["attempts"]
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in attempts] == [
        (1, "retry", 503),
        (2, "retry", None),
        (3, "done", 200),
    ]
    assert attempts[0]["error"] == "webhook answered HTTP 503" and len(attempts[0]["body"]) == 2048
    assert "unreachable" in attempts[1]["error"] and attempts[2]["body"] == "ok"
    assert all(a["started_at"] and a["finished_at"] and a["duration_ms"] is not None for a in attempts)


async def test_a_released_request_spent_no_attempt_and_an_abandoned_one_is_listed(
    sql: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    job = await add_job(sql, "hook")
    request = await add_request(sql, job)
    # Claimed, then its lease lapsed: claimed again with one more attempt.
    await sql.execute(
        "update public.cron_run_requests set status = 'running', attempts = 1, picked_up_at = now(), "
        "locked_until = now() - interval '1 second', claim_token = gen_random_uuid() where id = $1::uuid",
        request,
    )
    await sql.execute("select * from public.claim_run_requests(10, 60)")
    # Then released (the budget ended before it started): no attempt.
    token = await sql.fetchval("select claim_token from public.cron_run_requests where id = $1::uuid", request)
    await sql.execute(
        "select * from public.settle_run_requests($1::jsonb)",
        f'[{{"id": "{request}", "claim_token": "{token}", "outcome": "release", "delay_seconds": 0}}]',
    )
    attempts = (await client.get(f"/api/ops/requests/{request}", headers=AUTH)).json()["attempts"]
    assert [(a["attempt"], a["outcome"], a["error"]) for a in attempts] == [
        (1, "abandoned", "no result before its lease expired")
    ]


# -- cancel ---------------------------------------------------------------------------------------


async def test_cancel_ends_a_queued_or_held_request_and_never_a_running_one(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook")
    queued = await add_request(sql, job)
    cancelled = await client.post(f"/api/ops/requests/{queued}/cancel", headers=AUTH)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()["request"]
    assert body["status"] == "error" and body["result"]["error"] == "cancelled by ops" and body["completed_at"]
    # A repeat answers with the same request.
    assert (await client.post(f"/api/ops/requests/{queued}/cancel", headers=AUTH)).status_code == 200

    held = await add_request(sql, job)
    await client.post(f"/api/ops/jobs/{job}/pause", headers=AUTH)
    assert (await client.post(f"/api/ops/requests/{held}/cancel", headers=AUTH)).json()["request"]["status"] == "error"

    running = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'running' where id = $1::uuid", running)
    refused = await client.post(f"/api/ops/requests/{running}/cancel", headers=AUTH)
    assert refused.status_code == 409 and "not interrupted" in refused.json()["error"]
    assert await sql.fetchval("select status from public.cron_run_requests where id = $1::uuid", running) == "running"

    done = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'done' where id = $1::uuid", done)
    assert (await client.post(f"/api/ops/requests/{done}/cancel", headers=AUTH)).status_code == 409
    assert (await client.post(f"/api/ops/requests/{job}/cancel", headers=AUTH)).status_code == 404


# -- retry once ------------------------------------------------------------------------------------


async def test_a_retried_request_shows_its_retry_and_cannot_be_retried_again(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook")
    failed = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'error' where id = $1::uuid", failed)
    first = await client.post(f"/api/ops/requests/{failed}/retry", headers=AUTH)
    assert first.status_code == 201
    retry = first.json()["request"]["id"]

    again = await client.post(f"/api/ops/requests/{failed}/retry", headers=AUTH)
    assert again.status_code == 409 and retry in again.json()["error"]
    shown = (await client.get(f"/api/ops/requests/{failed}", headers=AUTH)).json()["request"]
    assert shown["retried_by"] == retry
    listed = (await client.get(f"/api/ops/requests?job_id={job}", headers=AUTH)).json()["requests"]
    assert {row["id"]: row["retried_by"] for row in listed} == {failed: retry, retry: None}
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 2


# -- by filter ---------------------------------------------------------------------------------------


async def test_retry_and_cancel_by_filter_count_first_then_act(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    one = await add_job(sql, "one")
    two = await add_job(sql, "two")
    failed = [await add_request(sql, one) for _ in range(3)] + [await add_request(sql, two)]
    await sql.execute("update public.cron_run_requests set status = 'error'")
    # One of job one's failures is old: outside the time range.
    await sql.execute(
        "update public.cron_run_requests set requested_at = now() - interval '2 days' where id = $1::uuid", failed[0]
    )
    since = await sql.fetchval(
        "select to_char((now() - interval '1 day') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    )

    preview = await client.post("/api/ops/requests/retry", json={"job_id": one, "since": since}, headers=WRITE)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {"action": "retry", "dry_run": True, "matched": 2, "done": 0, "has_more": False}
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 4

    done = await client.post(
        "/api/ops/requests/retry", json={"job_id": one, "since": since, "dry_run": False}, headers=WRITE
    )
    assert done.json() == {"action": "retry", "dry_run": False, "matched": 2, "done": 2, "has_more": False}
    retried = await sql.fetch("select retry_of::text from public.cron_run_requests where retry_of is not null")
    assert sorted(row["retry_of"] for row in retried) == sorted(failed[1:3])
    # Retried once is enough: the same filter now matches nothing.
    again = await client.post("/api/ops/requests/retry", json={"job_id": one, "since": since}, headers=WRITE)
    assert again.json()["matched"] == 0

    # Cancel takes the queued ones: the two retries just made.
    counted = await client.post("/api/ops/requests/cancel", json={"status": "queued"}, headers=WRITE)
    assert counted.json()["matched"] == 2
    cancelled = await client.post("/api/ops/requests/cancel", json={"dry_run": False}, headers=WRITE)
    assert cancelled.json()["done"] == 2
    assert await sql.fetchval("select count(*) from public.cron_run_requests where status = 'queued'") == 0

    wrong = await client.post("/api/ops/requests/cancel", json={"status": "error"}, headers=WRITE)
    assert wrong.status_code == 422 and wrong.json()["field"] == "status"
    backwards = await client.post(
        "/api/ops/requests/retry",
        json={"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
        headers=WRITE,
    )
    assert backwards.status_code == 422 and backwards.json()["field"] == "since"
    # Found by the fuzz (tests/reliability/test_console_fuzz.py): an instant past year 9999 in UTC.
    overflow = await client.post("/api/ops/requests/cancel", json={"until": "9999-12-31T23:59:59-14:00"}, headers=WRITE)
    assert overflow.status_code == 422 and overflow.json()["field"] == "until", overflow.text
