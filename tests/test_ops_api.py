"""The console's JSON API (/api/ops/jobs, requests, runs, status) through both adapters.

Every action and every error code, over HTTP against the real app: the guard
(401, 403 for cookie writes without the header or from elsewhere, nothing
written on a GET), validation (422 naming the field or parameter), unknown
ids (404 that says what was not found), conflicts (409), a database that
cannot be reached (503), and the user's paths end to end: run now then the
drain, pause then the job's route, retry linked to the failed request. No
answer ever carries a secret.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
import respx

import lib.db.postgres
import lib.db.supabase
import lib.ops.api._common as api_common
from lib.db import database_for
from lib.settings import Settings
from tests.conftest import AUTH, SECRET, app_client
from tests.factories import HOOK, add_job, add_request
from tests.fakes.counting import CountingDatabase
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route

BOT_TOKEN = "123456789:AAH-ops-api-bot-token-abcdefghijk"
BASE = "http://testserver"
WRITE = {"X-Cronrelay-Request": "1", "Origin": BASE}
UNKNOWN = str(uuid4())


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Every secret set, so the security test can look for each in every answer."""
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, telegram_bot_token=BOT_TOKEN)


def secret_values(settings: Settings) -> list[str]:
    values = [SECRET, WEBHOOK_SECRET, BOT_TOKEN]
    for secret in (settings.database_url, settings.supabase_service_role_key):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


async def job_id(sql: asyncpg.Connection, name: str) -> str:
    return str(await sql.fetchval("select id from public.cron_jobs where name = $1", name))


def hook(name: str = "nightly-export", **fields: Any) -> dict[str, Any]:
    """A create body for a webhook job."""
    return {
        "name": name,
        "kind": "webhook",
        "target": HOOK,
        "schedule_type": "interval",
        "schedule": "every 2h",
    } | fields


# -- access ------------------------------------------------------------------------------------


def endpoints(job: str, request: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", "/api/ops/status", None),
        ("GET", "/api/ops/jobs", None),
        ("POST", "/api/ops/jobs", hook()),
        ("GET", f"/api/ops/jobs/{job}", None),
        ("PATCH", f"/api/ops/jobs/{job}", {"schedule": "every 3h"}),
        ("POST", f"/api/ops/jobs/{job}/run", {}),
        ("POST", f"/api/ops/jobs/{job}/pause", None),
        ("POST", f"/api/ops/jobs/{job}/resume", None),
        ("DELETE", f"/api/ops/jobs/{job}", None),
        ("GET", "/api/ops/requests", None),
        ("GET", f"/api/ops/requests/{request}", None),
        ("POST", f"/api/ops/requests/{request}/retry", None),
        ("GET", "/api/ops/runs", None),
        ("GET", "/api/ops/alerts", None),
        ("POST", "/api/ops/alerts/test", {}),
    ]


async def test_every_endpoint_needs_the_secret(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "hook")
    request = await add_request(sql, job)
    for method, path, body in endpoints(job, request):
        for headers in ({}, {"Authorization": "Bearer not-the-secret-at-all"}):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json() == {"error": "unauthorized"}
            assert response.headers["www-authenticate"] == "Bearer"
    # Nothing was written by any of them.
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'webhook'") == 1
    assert await sql.fetchval("select enabled from public.cron_jobs where id = $1", job) is True
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 1


async def test_cookie_writes_need_the_header_and_this_origin(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook")
    signed_in = await client.post("/api/ops/login", json={"secret": SECRET})
    assert signed_in.status_code == 200 and client.cookies.get("cronrelay_ops")

    # Reads need only the cookie.
    listed = await client.get("/api/ops/jobs")
    assert listed.status_code == 200 and any(row["id"] == job for row in listed.json()["jobs"])

    refused = [
        await client.post(f"/api/ops/jobs/{job}/pause"),
        await client.post(f"/api/ops/jobs/{job}/pause", headers={"Origin": BASE}),
        await client.post(f"/api/ops/jobs/{job}/pause", headers={"X-Cronrelay-Request": "1"}),
        await client.post(
            f"/api/ops/jobs/{job}/pause", headers={"X-Cronrelay-Request": "1", "Origin": "https://evil.test"}
        ),
        await client.post("/api/ops/jobs", json=hook(), headers={"Origin": BASE}),
        await client.delete(f"/api/ops/jobs/{job}", headers={"X-Cronrelay-Request": "1", "Origin": "null"}),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    assert "X-Cronrelay-Request" in refused[1].json()["error"]
    assert "origin" in refused[3].json()["error"]
    assert await sql.fetchval("select enabled from public.cron_jobs where id = $1", job) is True
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'webhook'") == 1

    paused = await client.post(f"/api/ops/jobs/{job}/pause", headers=WRITE)
    assert paused.status_code == 200 and paused.json()["job"]["enabled"] is False
    assert await sql.fetchval("select enabled from public.cron_jobs where id = $1", job) is False


async def test_nothing_is_written_on_a_get(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "hook")
    request = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'error' where id = $1", request)
    for path in (f"/api/ops/jobs/{job}/pause", f"/api/ops/jobs/{job}/run", f"/api/ops/requests/{request}/retry"):
        response = await client.get(path, headers=AUTH)
        assert response.status_code == 405, (path, response.text)
        assert "error" in response.json()
    assert await sql.fetchval("select enabled from public.cron_jobs where id = $1", job) is True
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 1


# -- jobs ----------------------------------------------------------------------------------------


async def test_jobs_list_filters_pages_and_is_one_round_trip(
    client: httpx.AsyncClient, sql: asyncpg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingDatabase(database_for(settings))
    monkeypatch.setattr(api_common, "database_for", lambda _settings: counting)
    await add_job(sql, "alpha-export")
    await add_job(sql, "beta-export", enabled=False)
    await add_job(sql, "gamma-import", project_id="other")
    await sql.execute("update public.cron_jobs set last_status = 'error' where name = 'alpha-export'")

    everything = await client.get("/api/ops/jobs", headers=AUTH)
    assert everything.status_code == 200
    body = everything.json()
    assert sum(counting.calls.values()) == 1, counting.calls
    names = {job["name"] for job in body["jobs"]}
    assert {"alpha-export", "beta-export", "check-stale"} <= names
    assert "default" in body["projects"] and "other" in body["projects"]
    assert body["has_more"] is False
    alpha = next(job for job in body["jobs"] if job["name"] == "alpha-export")
    assert alpha["kind"] == "webhook" and alpha["editable"] is True and alpha["target"] == HOOK
    builtin = next(job for job in body["jobs"] if job["name"] == "check-stale")
    assert builtin["editable"] is False and builtin["schedule_type"] == "vercel" and builtin["next_run_at"]

    async def names_for(query: str) -> list[str]:
        response = await client.get(f"/api/ops/jobs?{query}", headers=AUTH)
        assert response.status_code == 200, response.text
        return sorted(job["name"] for job in response.json()["jobs"])

    assert await names_for("q=export") == ["alpha-export", "beta-export"]
    assert await names_for("q=export&filter=paused") == ["beta-export"]
    assert await names_for("q=export&filter=enabled") == ["alpha-export"]
    assert await names_for("filter=failing") == ["alpha-export"]
    assert await names_for("project=other") == ["gamma-import"]

    first = (await client.get("/api/ops/jobs?q=export&limit=1", headers=AUTH)).json()
    second = (await client.get("/api/ops/jobs?q=export&limit=1&offset=1", headers=AUTH)).json()
    assert first["has_more"] is True and second["has_more"] is False
    assert {first["jobs"][0]["name"], second["jobs"][0]["name"]} == {"alpha-export", "beta-export"}


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/ops/jobs?limit=201", "limit"),
        ("/api/ops/jobs?limit=0", "limit"),
        ("/api/ops/jobs?offset=-1", "offset"),
        ("/api/ops/jobs?offset=99999999999", "offset"),
        ("/api/ops/jobs?filter=broken", "filter"),
        ("/api/ops/jobs?colour=red", "colour"),
        ("/api/ops/jobs?limit=5&limit=6", "limit"),
        ("/api/ops/requests?status=lost", "status"),
        ("/api/ops/requests?job_id=not-a-uuid", "job_id"),
        ("/api/ops/requests?limit=1000", "limit"),
        ("/api/ops/runs?status=fine", "status"),
        ("/api/ops/runs?offset=x", "offset"),
        # Postgres text cannot hold U+0000: refused before the database sees it.
        ("/api/ops/jobs?project=%00", "project"),
        ("/api/ops/jobs?q=a%00b", "q"),
        ("/api/ops/requests?project=x%00", "project"),
        ("/api/ops/runs?job=%00", "job"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(client: httpx.AsyncClient, path: str, named: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"'{named}'" in body["error"] and body["field"] == named


async def test_create_show_update_delete_a_job(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    created = await client.post("/api/ops/jobs", json=hook(payload={"table": "orders"}), headers=AUTH)
    assert created.status_code == 201, created.text
    job = created.json()["job"]
    assert job["name"] == "nightly-export" and job["schedule_type"] == "interval" and job["editable"] is True
    assert job["payload"] == {"table": "orders"} and job["enabled"] is True and job["schedule_text"]
    row = await sql.fetchrow("select * from public.cron_jobs where id = $1::uuid", job["id"])
    assert row["schedule"] == "every 2h" and row["target"] == HOOK and job["next_run_at"] is not None

    shown = await client.get(f"/api/ops/jobs/{job['id']}", headers=AUTH)
    assert shown.status_code == 200
    detail = shown.json()
    assert detail["job"]["id"] == job["id"] and len(detail["next_runs"]) == 5
    assert detail["runs"] == [] and detail["requests"] == []

    changed = await client.patch(f"/api/ops/jobs/{job['id']}", json={"schedule": "every 90m"}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    assert changed.json()["job"]["schedule"] == "every 90m"
    assert await sql.fetchval("select schedule from public.cron_jobs where id = $1::uuid", job["id"]) == "every 90m"

    deleted = await client.delete(f"/api/ops/jobs/{job['id']}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    assert await sql.fetchval("select count(*) from public.cron_jobs where id = $1::uuid", job["id"]) == 0
    gone = await client.get(f"/api/ops/jobs/{job['id']}", headers=AUTH)
    assert gone.status_code == 404 and gone.json()["error"] != "not found" and "job" in gone.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (hook(schedule="every two hours"), "schedule"),
        (hook(schedule_type="cron", schedule="61 * * * *"), "schedule"),
        (hook(timezone="Mars/Olympus"), "timezone"),
        (hook(target="ftp://hooks.example.test/x"), "target"),
        (hook(name="no spaces allowed"), "name"),
        (hook(kind="shell"), "kind"),
        (hook(colour="red"), "colour"),
        (hook(payload=[1, 2]), "payload"),
    ],
)
async def test_create_refuses_bad_fields_naming_them(
    client: httpx.AsyncClient, sql: asyncpg.Connection, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/ops/jobs", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and response.json()["error"]
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'webhook'") == 0


async def test_a_body_that_is_not_a_json_object_is_422(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    for content in (b"", b"not json", b"[1, 2]", b"[" * 30_000 + b"]" * 30_000):
        response = await client.post(
            "/api/ops/jobs", content=content, headers={**AUTH, "content-type": "application/json"}
        )
        assert response.status_code == 422 and response.json()["field"] == "body", content[:20]
    job = await add_job(sql, "hook")
    for body, field in [
        (hook(name="a\x00b"), "name"),
        (hook(payload={"deep": [{"x": "\x00"}]}), "payload"),
        (hook(payload={"k\x00": 1}), "payload"),
    ]:
        response = await client.post("/api/ops/jobs", json=body, headers=AUTH)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    for path, body in [(f"/api/ops/jobs/{job}/run", {"payload": {"note": "\x00"}})]:
        response = await client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422 and response.json()["field"] == "payload", response.text
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 0


async def test_conflicts_are_409(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    await add_job(sql, "taken")
    duplicate = await client.post("/api/ops/jobs", json=hook("taken"), headers=AUTH)
    assert duplicate.status_code == 409 and "taken" in duplicate.json()["error"]
    # The same name in another project is another job.
    elsewhere = await client.post("/api/ops/jobs", json=hook("taken", project_id="other"), headers=AUTH)
    assert elsewhere.status_code == 201, elsewhere.text

    builtin = await job_id(sql, "check-stale")
    edit = await client.patch(f"/api/ops/jobs/{builtin}", json={"schedule": "every 5m"}, headers=AUTH)
    delete = await client.delete(f"/api/ops/jobs/{builtin}", headers=AUTH)
    assert edit.status_code == 409 and "builtin" in edit.json()["error"]
    assert delete.status_code == 409 and "builtin" in delete.json()["error"]
    assert await sql.fetchval("select schedule from public.cron_jobs where id = $1::uuid", builtin) != "every 5m"


async def test_unknown_and_malformed_ids_are_404_naming_what(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", f"/api/ops/jobs/{UNKNOWN}"),
        ("PATCH", f"/api/ops/jobs/{UNKNOWN}"),
        ("DELETE", f"/api/ops/jobs/{UNKNOWN}"),
        ("POST", f"/api/ops/jobs/{UNKNOWN}/run"),
        ("POST", f"/api/ops/jobs/{UNKNOWN}/pause"),
        ("POST", f"/api/ops/jobs/{UNKNOWN}/resume"),
        ("GET", "/api/ops/jobs/not-a-uuid"),
        ("POST", "/api/ops/jobs/1;drop/pause"),
    ]:
        body = {"schedule": "every 2h"} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=AUTH)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"].startswith("no job with id"), response.text
    for method, path in [
        ("GET", f"/api/ops/requests/{UNKNOWN}"),
        ("POST", f"/api/ops/requests/{UNKNOWN}/retry"),
        ("GET", "/api/ops/requests/12"),
    ]:
        response = await client.request(method, path, headers=AUTH)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"].startswith("no run request with id"), response.text
    # An unknown route keeps the generic answer, so the page can tell the two apart.
    route = await client.get("/api/ops/nothing-here", headers=AUTH)
    assert route.status_code == 404 and route.json() == {"error": "not found"}


# -- the user's paths -----------------------------------------------------------------------


async def test_run_now_runs_in_the_call_and_answers_with_the_settled_request(
    client: httpx.AsyncClient, sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    hit = hook_route(http_mock, return_value=httpx.Response(200, text="ok"))
    job = await add_job(sql, "hook", payload={"a": 1})
    answer = await client.post(f"/api/ops/jobs/{job}/run", json={"payload": {"a": 2}}, headers=AUTH)
    assert answer.status_code == 201, answer.text
    # Run now runs now: no drain call, the answer carries the settled request.
    assert (answer.json()["started"], answer.json()["waiting"]) == (True, None)
    request = answer.json()["request"]
    assert request["status"] == "done" and request["requested_by"] == "ops" and request["job_id"] == job
    assert request["job_name"] == "hook" and request["payload"] == {"a": 2} and request["held"] is False
    assert request["result"]["status_code"] == 200 and request["attempts"] == 1
    assert hit.call_count == 1 and json.loads(hit.calls[0].request.content)["payload"] == {"a": 2}

    drained = await client.get("/api/cron/run-requests", headers=AUTH)
    assert drained.status_code == 200 and drained.json()["stats"]["claimed"] == 0, drained.text
    assert hit.call_count == 1

    shown = await client.get(f"/api/ops/requests/{request['id']}", headers=AUTH)
    assert shown.status_code == 200
    assert shown.json()["request"]["status"] == "done" and shown.json()["request"]["result"]["status_code"] == 200
    listed = (await client.get(f"/api/ops/requests?job_id={job}&status=done", headers=AUTH)).json()
    assert [row["id"] for row in listed["requests"]] == [request["id"]] and listed["has_more"] is False
    detail = (await client.get(f"/api/ops/jobs/{job}", headers=AUTH)).json()
    assert [row["id"] for row in detail["requests"]] == [request["id"]]


async def test_a_paused_job_is_skipped_and_its_requests_held_until_resumed(
    client: httpx.AsyncClient, sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    hit = hook_route(http_mock, return_value=httpx.Response(200))
    builtin = await job_id(sql, "check-stale")
    paused = await client.post(f"/api/ops/jobs/{builtin}/pause", headers=AUTH)
    assert paused.status_code == 200 and paused.json()["job"]["enabled"] is False
    route = await client.get("/api/cron/check-stale", headers=AUTH)
    assert route.json()["status"] == "skipped" and route.json()["stats"] == {"reason": "paused"}
    assert (await client.get("/api/ops/jobs?q=check-stale&filter=paused", headers=AUTH)).json()["jobs"]
    resumed = await client.post(f"/api/ops/jobs/{builtin}/resume", headers=AUTH)
    assert resumed.status_code == 200 and resumed.json()["job"]["enabled"] is True
    assert (await client.get("/api/cron/check-stale", headers=AUTH)).json()["status"] == "ok"

    job = await add_job(sql, "hook")
    request = await add_request(sql, job)
    await client.post(f"/api/ops/jobs/{job}/pause", headers=AUTH)
    await client.get("/api/cron/run-requests", headers=AUTH)
    held = (await client.get(f"/api/ops/requests/{request}", headers=AUTH)).json()["request"]
    assert held["status"] == "queued" and held["held"] is True and hit.call_count == 0
    refused = await client.post(f"/api/ops/jobs/{job}/run", headers=AUTH)
    assert refused.status_code == 409 and "paused" in refused.json()["error"]

    await client.post(f"/api/ops/jobs/{job}/resume", headers=AUTH)
    await client.get("/api/cron/run-requests", headers=AUTH)
    done = (await client.get(f"/api/ops/requests/{request}", headers=AUTH)).json()["request"]
    assert done["status"] == "done" and done["held"] is False and hit.call_count == 1


async def test_retry_links_the_new_request_and_only_errors_retry(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook")
    failed = await add_request(sql, job, payload={"n": 7})
    await sql.execute(
        "update public.cron_run_requests set status = 'error', completed_at = now(), "
        'result = \'{"error": "HTTP 404 from the target"}\' where id = $1::uuid',
        failed,
    )
    retried = await client.post(f"/api/ops/requests/{failed}/retry", headers=AUTH)
    assert retried.status_code == 201, retried.text
    new = retried.json()["request"]
    assert new["retry_of"] == failed and new["id"] != failed and new["status"] == "queued"
    assert new["job_id"] == job and new["payload"] == {"n": 7} and new["requested_by"] == "ops"
    row = await sql.fetchrow(
        "select status, retry_of::text from public.cron_run_requests where id = $1::uuid", new["id"]
    )
    assert row["status"] == "queued" and row["retry_of"] == failed

    again = await client.post(f"/api/ops/requests/{new['id']}/retry", headers=AUTH)
    assert again.status_code == 409 and "error" in again.json()["error"]
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 2


async def test_runs_list_filters_by_job_and_status(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    assert (await client.get("/api/cron/check-stale", headers=AUTH)).json()["status"] == "ok"
    assert (await client.get("/api/cron/cleanup-heartbeats", headers=AUTH)).json()["status"] == "ok"
    runs = (await client.get("/api/ops/runs", headers=AUTH)).json()
    assert {run["job"] for run in runs["runs"]} == {"check-stale", "cleanup-heartbeats"}
    assert runs["has_more"] is False
    only = (await client.get("/api/ops/runs?job=check-stale&status=ok", headers=AUTH)).json()["runs"]
    assert [run["job"] for run in only] == ["check-stale"] and only[0]["trigger"] == "manual"
    assert (await client.get("/api/ops/runs?status=error", headers=AUTH)).json()["runs"] == []
    paged = (await client.get("/api/ops/runs?limit=1", headers=AUTH)).json()
    assert len(paged["runs"]) == 1 and paged["has_more"] is True


async def test_status_says_what_is_missing(
    client: httpx.AsyncClient, make_settings: Callable[..., Settings], sql: asyncpg.Connection
) -> None:
    ok = await client.get("/api/ops/status", headers=AUTH)
    assert ok.status_code == 200 and ok.json() == {"database": "ok", "problems": []}
    bare = make_settings()  # no bot token, no signing secret
    async with app_client(bare) as http:
        body = (await http.get("/api/ops/status", headers=AUTH)).json()
    assert body["database"] == "ok"
    assert any("TELEGRAM_BOT_TOKEN" in line for line in body["problems"])
    assert any("WEBHOOK_SIGNING_SECRET" in line for line in body["problems"])


@pytest.fixture
async def down(
    adapter: dict[str, str],
    make_settings: Callable[..., Settings],
    http_mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a database that cannot be reached, through the adapter under test.

    Every attempt is still made, without the waits between them (tests/test_adapters.py
    covers the waits): over some twenty endpoints they added 10-15 s to the gate.
    """
    for module in (lib.db.postgres, lib.db.supabase):
        monkeypatch.setattr(module, "RETRY_DELAYS", (0.0, 0.0))
    if "database_url" in adapter:
        settings = make_settings(database_url="postgresql://cron:pw-down-0987@127.0.0.1:1/none")
    else:
        http_mock.post(url__startswith="https://down.supabase.test/").mock(side_effect=httpx.ConnectError("refused"))
        settings = make_settings(supabase_url="https://down.supabase.test")
    async with app_client(settings) as http:
        yield http


async def test_an_unreachable_database_is_503_with_a_clear_line(down: httpx.AsyncClient) -> None:
    for method, path, body in endpoints(UNKNOWN, UNKNOWN):
        if path == "/api/ops/status":
            continue
        response = await down.request(method, path, json=body, headers=AUTH)
        assert response.status_code == 503, (method, path, response.text)
        assert "cannot be reached" in response.json()["error"]
        assert "pw-down-0987" not in response.text
    status = await down.get("/api/ops/status", headers=AUTH)
    assert status.status_code == 200 and status.json()["database"] == "unreachable"
    assert "cannot be reached" in status.json()["problems"][0]


# -- security ---------------------------------------------------------------------------------


async def test_no_answer_carries_a_secret(
    client: httpx.AsyncClient, sql: asyncpg.Connection, settings: Settings, http_mock: respx.MockRouter
) -> None:
    # Rows of every kind on show: a done request, a ledger row, a failed request.
    hook_route(http_mock, return_value=httpx.Response(200, text="ok"))
    job = await add_job(sql, "hook", payload={"note": "plain"})
    request = await add_request(sql, job)
    await client.get("/api/cron/run-requests", headers=AUTH)
    await client.get("/api/cron/check-stale", headers=AUTH)
    failed = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'error' where id = $1::uuid", failed)

    answers: list[httpx.Response] = []
    for method, path, body in endpoints(job, request) + endpoints(UNKNOWN, failed):
        answers.append(await client.request(method, path, json=body, headers=AUTH))
    answers.append(await client.post(f"/api/ops/requests/{failed}/retry", headers=AUTH))
    answers.append(await client.get("/api/ops/jobs?limit=500", headers=AUTH))
    builtin = await job_id(sql, "check-stale")
    answers.append(await client.patch(f"/api/ops/jobs/{builtin}", json={"schedule": "every 5m"}, headers=AUTH))
    answers.append(await client.get("/api/ops/runs?job=check-stale", headers=AUTH))
    answers.append(await client.get("/api/ops/jobs"))
    statuses = {response.status_code for response in answers}
    assert {200, 201, 401, 404, 409, 422} <= statuses, statuses
    for secret in secret_values(settings):
        for response in answers:
            assert secret not in response.text, (response.request.url, response.status_code)
            assert all(secret not in value for value in response.headers.values())


async def test_answers_carry_the_console_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/ops/jobs", headers=AUTH),
        await client.get(f"/api/ops/jobs/{UNKNOWN}", headers=AUTH),
        await client.get("/api/ops/runs"),
    ):
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.headers["cache-control"] == "no-store"
