"""A user's whole path, end to end over HTTP on the real app, through both adapters.

A database schedule fires (`/api/cron/schedule`) and runs its request in the
same call (a fire runs at once), so the drain (`/api/cron/run-requests`) finds
nothing left, and a real local webhook receiver (tests/fakes/webhook.py) gets
exactly one signed call; a second round adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from lib.outbound.webhooks import SIGNATURE_HEADER, verify_signature
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import add_job
from tests.fakes.webhook import Hit, local_receiver

WEBHOOK_SECRET = "whsec-scenario-0123456789"
PAYLOAD = {"from": "scenario"}


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, list[Hit]]]:
    """tests/fakes/webhook.py's real HTTP/1.1 server on 127.0.0.1; each call's headers and raw body."""
    hits: list[Hit] = []
    async with local_receiver(hits=hits) as (url, _):
        yield url, hits


@pytest.fixture
def hook_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)


async def tick(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """One round as Vercel would run it: the schedule, then the drain."""
    schedule = await http.get("/api/cron/schedule", headers={**AUTH, "user-agent": "vercel-cron/1.0"})
    drain = await http.get("/api/cron/run-requests", headers={**AUTH, "user-agent": "vercel-cron/1.0"})
    assert (schedule.status_code, drain.status_code) == (200, 200)
    return schedule.json(), drain.json()


def assert_one_signed_call(hits: list[Hit], job: str, request_id: str) -> None:
    assert len(hits) == 1
    assert hits[0].path == "/hook"
    assert verify_signature(WEBHOOK_SECRET, hits[0].body, hits[0].headers.get(SIGNATURE_HEADER.lower()))
    sent = json.loads(hits[0].body)
    assert (sent["job"], sent["request_id"], sent["payload"]) == (job, request_id, {"from": "scenario"})


@pytest.mark.parametrize("kind", ["cron", "interval", "once"])
async def test_a_due_schedule_reaches_its_webhook_once(
    hook_settings: Settings, sql: asyncpg.Connection, kind: str
) -> None:
    now = await sql.fetchval("select date_trunc('second', now())")
    due = now - timedelta(minutes=1)
    # Schedules whose next tick after this one is far off, so the second round finds nothing due.
    schedule, next_run_at = {
        "cron": ("0 9 1 1 *", due),
        "interval": ("1d", due),
        "once": ((now - timedelta(seconds=30)).isoformat(), None),
    }[kind]
    async with receiver() as (url, received), app_client(hook_settings) as http:
        job_id = await add_job(
            sql,
            f"{kind}-hook",
            target=url,
            payload=PAYLOAD,
            schedule_type=kind,
            schedule=schedule,
            timezone="Europe/Berlin",
            next_run_at=next_run_at,
        )

        fired, drained = await tick(http)

        assert (fired["status"], fired["stats"]["enqueued"]) == ("ok", 1)
        # A fire runs at once: the schedule call ran it, the drain had nothing left.
        assert (fired["stats"]["executed"]["claimed"], fired["stats"]["executed"]["done"]) == (1, 1)
        assert (drained["status"], drained["stats"]["claimed"]) == ("ok", 0)
        [request] = await sql.fetch("select * from cron_run_requests where job_id = $1", job_id)
        assert (request["status"], request["requested_by"], request["attempts"]) == ("done", "schedule", 1)
        assert json.loads(request["result"])["status_code"] == 200
        assert_one_signed_call(received, f"{kind}-hook", str(request["id"]))
        row = await sql.fetchrow("select * from cron_jobs where id = $1", job_id)
        assert (row["enabled"], row["last_status"], row["schedule_error"]) == (True, "ok", None)
        assert (row["fired_at"] is not None) is (kind == "once")

        again_fired, again_drained = await tick(http)

        assert (again_fired["stats"]["enqueued"], again_drained["stats"]["claimed"]) == (0, 0)
        assert await sql.fetchval("select count(*) from cron_run_requests") == 1
        assert len(received) == 1


async def test_a_paused_scheduled_jobs_request_waits_and_runs_after_resume(
    hook_settings: Settings, sql: asyncpg.Connection
) -> None:
    async with receiver() as (url, received), app_client(hook_settings) as http:
        job_id = await add_job(
            sql,
            "launch-mail",
            target=url,
            payload=PAYLOAD,
        )
        # Queued by an app while the job was enabled; paused before a drain got to it.
        await sql.execute("select * from request_run('launch-mail')")
        await sql.execute("update cron_jobs set enabled = false where id = $1", job_id)
        fired = (await http.get("/api/cron/schedule", headers=AUTH)).json()
        assert fired["stats"]["enqueued"] == 0

        held = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert held["stats"]["claimed"] == 0
        assert await sql.fetchval("select status from cron_run_requests where job_id = $1", job_id) == "queued"
        assert received == []

        await sql.execute("update cron_jobs set enabled = true where id = $1", job_id)
        _, drained = await tick(http)

        assert drained["stats"]["done"] == 1
        request_id = await sql.fetchval("select id::text from cron_run_requests where job_id = $1", job_id)
        assert await sql.fetchval("select status from cron_run_requests where job_id = $1", job_id) == "done"
        assert_one_signed_call(received, "launch-mail", request_id)
