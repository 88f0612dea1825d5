"""Route behaviour shared by every job: methods, slashes, query validation, answers."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AUTH


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/api/cron/check-stale", "/api/cron/check-stale/"])
async def test_get_post_and_trailing_slash_all_run_without_redirect(client, method, path):
    response = await client.request(method, path, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["job"] == "check-stale"


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=100001", "at most 100000"),
        ("dry_run=maybe", "dry_run"),
        ("dryrun=1", "unknown query parameter 'dryrun'"),
        ("limit=1&limit=2", "once"),
    ],
)
async def test_bad_query_values_get_422_and_run_nothing(client, sql, query, needle):
    response = await client.get(f"/api/cron/check-stale?{query}", headers=AUTH)
    assert response.status_code == 422
    assert needle in response.json()["error"]
    assert await sql.fetchval("select count(*) from cron_runs") == 0


async def test_unknown_job_is_a_json_404(client):
    response = await client.get("/api/cron/no-such-job", headers=AUTH)
    assert response.status_code == 404
    assert "unknown job 'no-such-job'" in response.json()["error"]


async def test_unknown_job_needs_the_secret_first(client):
    response = await client.get("/api/cron/no-such-job")
    assert response.status_code == 401


async def test_vercel_user_agent_and_request_id_reach_the_ledger(client, sql, capsys):
    headers = {**AUTH, "user-agent": "vercel-cron/1.0", "x-vercel-id": "fra1::abc-123"}
    response = await client.get("/api/cron/check-stale", headers=headers)
    body = response.json()
    assert body["trigger"] == "vercel-cron"
    assert body["request_id"] == "fra1::abc-123"
    row = await sql.fetchrow("select trigger, request_id, status from cron_runs where id = $1", body["run_id"])
    assert dict(row) == {"trigger": "vercel-cron", "request_id": "fra1::abc-123", "status": "ok"}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("event") == "cron_run"]
    assert len(logged) == 1
    assert logged[0]["run_id"] == body["run_id"]
    assert logged[0]["trigger"] == "vercel-cron"
    assert logged[0]["status"] == "ok"
    assert logged[0]["stats"] == {"marked_offline": 0}


async def test_manual_trigger_and_generated_request_id(client):
    body = (await client.post("/api/cron/check-stale", headers=AUTH)).json()
    assert body["trigger"] == "manual"
    assert len(body["request_id"]) == 32
    assert body["started_at"].endswith("Z")
    assert set(body) >= {"job", "run_id", "status", "trigger", "request_id", "started_at", "duration_ms",
                         "dry_run", "has_more", "stats"}  # fmt: skip


async def test_health_needs_no_secret_and_shows_none(client):
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"
    assert "secret" not in response.text.lower()


async def test_runs_lists_the_ledger_newest_first(client):
    first = (await client.get("/api/cron/check-stale", headers=AUTH)).json()["run_id"]
    second = (await client.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()["run_id"]
    runs = (await client.get("/api/cron/runs", headers=AUTH)).json()["runs"]
    assert [r["id"] for r in runs] == [second, first]
    only = (await client.get("/api/cron/runs?job=check-stale&limit=5", headers=AUTH)).json()["runs"]
    assert [r["id"] for r in only] == [first]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "job=nope", "jobs=check-stale"])
async def test_runs_rejects_bad_query(client, query):
    response = await client.get(f"/api/cron/runs?{query}", headers=AUTH)
    assert response.status_code == 422


async def test_runs_is_guarded(client):
    assert (await client.get("/api/cron/runs")).status_code == 401
