"""The worker API over HTTP (/api/worker/...), the console's /api/ops/workers, and what a worker's silence does.

Both adapters, except the scale test (5 workers long-polling one queue of
2,000 requests), which runs on postgres only to keep the suite's time down.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from lib.db import Database
from lib.settings import Settings
from lib.workers.manage import NewWorker, add_worker
from tests.conftest import AUTH, app_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def synced_worker(
    client: httpx.AsyncClient, db: Database, jobs: list[str], name: str = "mac-mini", project: str = "default"
) -> NewWorker:
    worker = await add_worker(db, name=name, project=project)
    answer = await client.post(
        "/api/worker/sync",
        json={"jobs": [{"job_id": job} for job in jobs], "complete": True},
        headers=bearer(worker.token),
    )
    assert answer.status_code == 200, answer.text
    return worker


async def queue(sql: asyncpg.Connection, job: str, count: int = 1, project: str = "default") -> list[str]:
    rows = await sql.fetch(
        "insert into public.cron_run_requests (project_id, job_id) "
        "select j.project_id, j.id from public.cron_jobs j, generate_series(1, $3) "
        "where j.name = $1 and j.project_id = $2 returning id::text",
        job,
        project,
        count,
    )
    return [row["id"] for row in rows]


async def test_no_valid_token_is_401_before_anything_happens(client: httpx.AsyncClient, db: Database) -> None:
    worker = await synced_worker(client, db, ["a"])
    for headers in ({}, bearer("crw_" + "A" * 43), {"Authorization": f"Basic {worker.token}"}, AUTH):
        answer = await client.post("/api/worker/claim", json={}, headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert worker.token not in answer.text


async def test_a_revoked_token_is_401_at_once_even_mid_wait(client: httpx.AsyncClient, db: Database) -> None:
    worker = await synced_worker(client, db, ["a"])
    waiting = asyncio.create_task(
        client.post("/api/worker/claim", json={"wait_seconds": 10}, headers=bearer(worker.token))
    )
    await asyncio.sleep(0.3)
    revoked = await client.post(f"/api/ops/workers/{worker.worker['id']}/revoke", headers=AUTH)
    assert revoked.status_code == 200 and revoked.json()["worker"]["disabled_at"] is not None
    assert (await waiting).status_code == 401
    answer = await client.post("/api/worker/sync", json={"jobs": []}, headers=bearer(worker.token))
    assert answer.status_code == 401


async def test_a_stale_claim_token_is_409_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection
) -> None:
    worker = await synced_worker(client, db, ["a"])
    [request_id] = await queue(sql, "a")
    [claimed] = (await client.post("/api/worker/claim", json={"limit": 5}, headers=bearer(worker.token))).json()[
        "requests"
    ]
    assert claimed["id"] == request_id and claimed["job_key"] == "a"
    stale = {"claim_token": str(uuid.uuid4()), "outcome": "done", "result": {"exit_code": 0}}
    for action, body in (("settle", stale), ("extend", {"claim_token": stale["claim_token"]})):
        answer = await client.post(
            f"/api/worker/requests/{request_id}/{action}", json=body, headers=bearer(worker.token)
        )
        assert answer.status_code == 409 and "stale claim token" in answer.json()["error"]
    row = await sql.fetchrow("select status, claim_token::text, locked_until from public.cron_run_requests")
    assert (row["status"], row["claim_token"]) == ("running", claimed["claim_token"])
    good = {"claim_token": claimed["claim_token"], "outcome": "done", "result": {"exit_code": 0, "duration_ms": 5}}
    answer = await client.post(f"/api/worker/requests/{request_id}/settle", json=good, headers=bearer(worker.token))
    assert answer.json() == {"id": request_id, "status": "done", "outcome": "done"}
    # A repeat of the same settle is stale now: 409, nothing changes.
    again = await client.post(f"/api/worker/requests/{request_id}/settle", json=good, headers=bearer(worker.token))
    assert again.status_code == 409


async def test_isolation_over_http(client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection) -> None:
    mine = await synced_worker(client, db, ["a"])
    theirs = await synced_worker(client, db, ["a"], name="mac-mini", project="b")
    [request_id] = await queue(sql, "a")
    assert (await client.post("/api/worker/claim", json={}, headers=bearer(theirs.token))).json() == {"requests": []}
    [claimed] = (await client.post("/api/worker/claim", json={}, headers=bearer(mine.token))).json()["requests"]
    body = {"claim_token": claimed["claim_token"], "outcome": "error", "result": {"error": "not mine"}}
    answer = await client.post(f"/api/worker/requests/{request_id}/settle", json=body, headers=bearer(theirs.token))
    assert answer.status_code == 409
    assert await sql.fetchval("select status from public.cron_run_requests") == "running"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/worker/claim", {"limit": 51}, "limit"),
        ("/api/worker/claim", {"wait_seconds": 26}, "wait_seconds"),
        ("/api/worker/claim", {"lease": 5}, "lease"),
        ("/api/worker/sync", {"jobs": [{"job_id": ""}]}, "jobs.0.job_id"),
        ("/api/worker/sync", {"jobs": [{"job_id": str(n)} for n in range(1001)]}, "jobs"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, path: str, body: dict[str, Any], field: str
) -> None:
    worker = await synced_worker(client, db, [])
    answer = await client.post(path, json=body, headers=bearer(worker.token))
    assert answer.status_code == 422 and answer.json()["field"] == field


async def test_a_long_poll_answers_when_a_request_arrives(
    client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection
) -> None:
    worker = await synced_worker(client, db, ["a"])
    waiting = asyncio.create_task(
        client.post("/api/worker/claim", json={"wait_seconds": 20}, headers=bearer(worker.token))
    )
    await asyncio.sleep(0.6)
    assert not waiting.done()
    [request_id] = await queue(sql, "a")
    answer = await asyncio.wait_for(waiting, 15)
    assert [item["id"] for item in answer.json()["requests"]] == [request_id]


async def test_the_console_adds_lists_and_revokes_workers(client: httpx.AsyncClient, db: Database) -> None:
    added = await client.post("/api/ops/workers", json={"name": "mac-mini", "project_id": "home"}, headers=AUTH)
    assert added.status_code == 201
    token = added.json()["token"]
    assert token.startswith("crw_") and len(token) >= 40
    again = await client.post("/api/ops/workers", json={"name": "mac-mini", "project_id": "home"}, headers=AUTH)
    assert again.status_code == 409
    await client.post("/api/worker/sync", json={"jobs": [{"job_id": "x"}]}, headers=bearer(token))
    listed = (await client.get("/api/ops/workers", headers=AUTH)).json()["workers"]
    assert [(w["name"], w["project_id"], w["online"], w["jobs"]) for w in listed] == [("mac-mini", "home", True, 1)]
    assert token not in json.dumps(listed) and "token_hash" not in listed[0]
    assert (await client.get("/api/ops/workers")).status_code == 401
    assert (await client.post("/api/ops/workers", json={"name": "x"})).status_code == 401


async def test_a_silent_worker_goes_offline_and_its_stopped_job_is_overdue(
    make_settings: Any, db: Database, sql: asyncpg.Connection
) -> None:
    settings: Settings = make_settings()
    async with app_client(settings) as client:
        worker = await add_worker(db, name="mac-mini")
        mirrored = {"job_id": "digest", "schedule_kind": "interval", "schedule_expr": "300000ms",
                    "last_run_at": "2026-01-01T00:00:00Z", "last_status": "ok"}  # fmt: skip
        await client.post("/api/worker/sync", json={"jobs": [mirrored]}, headers=bearer(worker.token))
        await sql.execute("update public.cron_jobs set created_at = now() - interval '1 day' where kind = 'worker'")
        tick = (await client.get("/api/cron/schedule", headers=AUTH)).json()
        assert tick["stats"]["alerts"]["overdue"] == 1
        # Quiet for longer than STALE_AFTER_SECONDS: check-stale marks its agent offline.
        await sql.execute(
            "update public.agents set last_heartbeat_at = now() - interval '1 hour' "
            "where id = (select agent_id from public.cron_workers)"
        )
        await sql.execute("update public.cron_workers set last_seen_at = now() - interval '1 hour'")
        stale = (await client.get("/api/cron/check-stale", headers=AUTH)).json()
        assert stale["stats"]["marked_offline"] == 1
        listed = (await client.get("/api/ops/workers", headers=AUTH)).json()["workers"]
        assert [w["online"] for w in listed] == [False]
        # Its next call beats again.
        await client.post("/api/worker/claim", json={}, headers=bearer(worker.token))
        status = await sql.fetchval(
            "select a.status from public.agents a join public.cron_workers w on w.agent_id = a.id"
        )
        assert status == "online"


@pytest.mark.parametrize("adapter", ["postgres"], indirect=True)
async def test_five_workers_long_polling_one_queue_run_each_request_once(
    client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection
) -> None:
    worker = await synced_worker(client, db, ["a"])
    requests = set(await queue(sql, "a", 2000))
    ran: Counter[str] = Counter()

    async def one_worker() -> None:
        idle = 0
        while idle < 2:
            answer = await client.post(
                "/api/worker/claim", json={"limit": 50, "wait_seconds": 1}, headers=bearer(worker.token)
            )
            claimed = answer.json()["requests"]
            idle = 0 if claimed else idle + 1
            for item in claimed:
                ran[item["id"]] += 1
                body = {"claim_token": item["claim_token"], "outcome": "done", "result": {"exit_code": 0}}
                settled = await client.post(
                    f"/api/worker/requests/{item['id']}/settle", json=body, headers=bearer(worker.token)
                )
                assert settled.status_code == 200, settled.text

    await asyncio.gather(*(one_worker() for _ in range(5)))
    assert set(ran) == requests and set(ran.values()) == {1}
    counts = dict(await sql.fetch("select status, count(*) from public.cron_run_requests group by status"))
    assert counts == {"done": 2000}


async def test_a_cronrelay_schedule_on_a_worker_job_queues_its_fires_for_the_worker(
    client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection
) -> None:
    worker = await synced_worker(client, db, ["digest"])
    job_id = await sql.fetchval("select id::text from public.cron_jobs where kind = 'worker'")
    edited = await client.patch(
        f"/api/ops/jobs/{job_id}", json={"schedule_type": "interval", "schedule": "1m"}, headers=AUTH
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["job"]["kind"] == "worker" and edited.json()["job"]["schedule_text"] == "every minute (UTC)"
    await sql.execute(
        "update public.cron_jobs set next_run_at = now() - interval '1 second' where id = $1::uuid", job_id
    )
    tick = (await client.get("/api/cron/schedule", headers=AUTH)).json()
    assert tick["stats"]["enqueued"] == 1
    # The drain leaves it to the worker; the worker claims it.
    await client.get("/api/cron/run-requests", headers=AUTH)
    assert await sql.fetchval("select status from public.cron_run_requests") == "queued"
    [claimed] = (await client.post("/api/worker/claim", json={}, headers=bearer(worker.token))).json()["requests"]
    assert claimed["job_key"] == "digest"
    # A later sync keeps the operator's schedule.
    await client.post("/api/worker/sync", json={"jobs": [{"job_id": "digest"}]}, headers=bearer(worker.token))
    assert await sql.fetchval("select schedule from public.cron_jobs where id = $1::uuid", job_id) == "1m"


async def test_run_now_on_a_worker_job_stays_queued_for_the_worker(
    client: httpx.AsyncClient, db: Database, sql: asyncpg.Connection
) -> None:
    await synced_worker(client, db, ["digest"])
    job_id = await sql.fetchval("select id::text from public.cron_jobs where kind = 'worker'")
    answer = await client.post(f"/api/ops/jobs/{job_id}/run", headers=AUTH)
    assert answer.status_code == 201 and answer.json()["request"]["status"] == "queued"
    shown = (await client.get(f"/api/ops/jobs/{job_id}", headers=AUTH)).json()["job"]
    assert shown["worker"]["name"] == "mac-mini" and shown["worker"]["online"] is True


async def test_a_nul_character_is_422_not_a_database_error(client: httpx.AsyncClient, db: Database) -> None:
    worker = await synced_worker(client, db, ["a"])
    body = {"claim_token": str(uuid.uuid4()), "outcome": "done", "result": {"output": "a\u0000b"}}
    answer = await client.post(f"/api/worker/requests/{uuid.uuid4()}/settle", json=body, headers=bearer(worker.token))
    assert answer.status_code == 422 and "NUL" in answer.json()["error"]
    # A backslash and "u0000" as text is fine.
    body["result"] = {"output": "\\u0000"}
    answer = await client.post(f"/api/worker/requests/{uuid.uuid4()}/settle", json=body, headers=bearer(worker.token))
    assert answer.status_code == 409
