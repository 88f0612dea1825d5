"""Roles: every console API action x viewer / operator / admin / cron secret / nobody, both adapters.

viewer reads; operator also runs, pauses, resumes and retries; admin also
creates, edits and deletes jobs and manages operators and reads the audit;
the cron secret (bearer) is an admin; nobody gets 401. A refused action
changes nothing and records nothing; an allowed write leaves an audit row
naming who did it. The rules live in lib/manage, so the CLI is held to them
too (tests/test_ops_users_cli.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from lib.manage.actors import allows
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import HOOK, add_job, add_request
from tests.ops_people import WRITE, add_operator, sign_in, with_cookie


@dataclass(frozen=True)
class Action:
    method: str
    path: str
    body: dict[str, Any] | None
    role: str
    # What the audit calls it; None for a read.
    audited: str | None = None


# {job}: an enabled webhook job; {paused}: a paused one; {failed}: a run request that ended in error.
ACTIONS = {
    "status": Action("GET", "/api/ops/status", None, "viewer"),
    "list jobs": Action("GET", "/api/ops/jobs", None, "viewer"),
    "show job": Action("GET", "/api/ops/jobs/{job}", None, "viewer"),
    "list requests": Action("GET", "/api/ops/requests", None, "viewer"),
    "show request": Action("GET", "/api/ops/requests/{failed}", None, "viewer"),
    "list runs": Action("GET", "/api/ops/runs", None, "viewer"),
    "run now": Action("POST", "/api/ops/jobs/{job}/run", {}, "operator", "job.run"),
    "pause": Action("POST", "/api/ops/jobs/{job}/pause", None, "operator", "job.pause"),
    "resume": Action("POST", "/api/ops/jobs/{paused}/resume", None, "operator", "job.resume"),
    "retry": Action("POST", "/api/ops/requests/{failed}/retry", None, "operator", "request.retry"),
    "create job": Action(
        "POST",
        "/api/ops/jobs",
        {
            "name": "made-by-test",
            "kind": "webhook",
            "target": HOOK,
            "schedule_type": "interval",
            "schedule": "every 2h",
        },
        "admin",
        "job.create",
    ),
    "edit job": Action(
        "PATCH", "/api/ops/jobs/{job}", {"schedule_type": "interval", "schedule": "every 5m"}, "admin", "job.update"
    ),
    "delete job": Action("DELETE", "/api/ops/jobs/{job}", None, "admin", "job.delete"),
    "list operators": Action("GET", "/api/ops/operators", None, "admin"),
    "read the audit": Action("GET", "/api/ops/audit", None, "admin"),
    "add operator": Action("POST", "/api/ops/operators", {"name": "nina", "role": "viewer"}, "admin", "operator.add"),
    "change role": Action("PATCH", "/api/ops/operators/tom", {"role": "operator"}, "admin", "operator.role"),
    "disable": Action("PATCH", "/api/ops/operators/tom", {"disabled": True}, "admin", "operator.disable"),
    "set password": Action("POST", "/api/ops/operators/tom/password", {}, "admin", "operator.password"),
}

# Who asks: the operator's name (signed in with a password), "cron-secret" (bearer) or None (nothing).
WHO = {"viewer": "vic", "operator": "olga", "admin": "alice", "cron secret": "cron-secret", "nobody": None}
ROLE_OF = {"vic": "viewer", "olga": "operator", "alice": "admin", "cron-secret": "admin"}


@pytest.fixture
async def http(settings: Settings, db: object) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as client:
        yield client


@pytest.fixture
async def objects(sql: asyncpg.Connection) -> dict[str, str]:
    for name, role in (("vic", "viewer"), ("olga", "operator"), ("alice", "admin"), ("tom", "viewer")):
        await add_operator(sql, name, role)
    job = await add_job(sql, "nightly-export")
    paused = await add_job(sql, "paused-export", enabled=False)
    failed = await add_request(sql, job)
    await sql.execute(
        "update public.cron_run_requests set status = 'error', completed_at = now(), "
        'result = \'{"error": "HTTP 500"}\' where id = $1',
        failed,
    )
    return {"job": job, "paused": paused, "failed": failed}


async def state(sql: asyncpg.Connection) -> str:
    """Everything an action could change, as one text."""
    rows = await sql.fetch(
        "select (select jsonb_agg(to_jsonb(j) - 'updated_at' order by j.id) from public.cron_jobs j) as jobs,"
        " (select jsonb_agg(to_jsonb(r) order by r.id) from public.cron_run_requests r) as requests,"
        " (select jsonb_agg(to_jsonb(u) - 'last_signin_at' order by u.id) from public.ops_users u) as users,"
        " (select count(*) from public.ops_audit) as audit"
    )
    return json.dumps([dict(row) for row in rows], default=str)


async def headers_for(http: httpx.AsyncClient, who: str | None) -> dict[str, str]:
    if who is None:
        return dict(WRITE)
    if who == "cron-secret":
        return dict(AUTH)
    return with_cookie(await sign_in(http, who), WRITE)


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("name", list(ACTIONS))
async def test_every_action_for_every_role(http, sql, objects, name, who):
    action = ACTIONS[name]
    asker = WHO[who]
    headers = await headers_for(http, asker)
    before = await state(sql)
    response = await http.request(
        action.method,
        action.path.format(**objects),
        headers=headers,
        **({} if action.body is None else {"json": action.body}),
    )
    if asker is None:
        assert response.status_code == 401, response.text
        assert await state(sql) == before
        return
    if not allows(ROLE_OF[asker], action.role):  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert action.role in error or "viewer" in error, error
        assert await state(sql) == before, "a refused action changed something"
        return
    assert response.status_code in (200, 201), response.text
    expected_actor = "cron-secret" if asker == "cron-secret" else f"ops:{asker}"
    rows = await sql.fetch("select actor, action, before, after, object_type from public.ops_audit order by id")
    if action.audited is None:
        assert rows == []
        return
    assert [(row["actor"], row["action"]) for row in rows][:1] == [(expected_actor, action.audited)], rows
    assert rows[0]["object_type"] is not None
    if action.audited == "job.run":
        requested_by = await sql.fetchval(
            "select requested_by from public.cron_run_requests where id = $1", response.json()["request"]["id"]
        )
        assert requested_by == ("ops" if asker == "cron-secret" else f"ops:{asker}")


async def test_the_audit_keeps_the_fields_before_and_after(http, sql, objects):
    headers = await headers_for(http, "alice")
    job = objects["job"]
    await http.patch(
        f"/api/ops/jobs/{job}", json={"schedule_type": "interval", "schedule": "every 5m"}, headers=headers
    )
    await http.post(f"/api/ops/jobs/{job}/pause", headers=headers)
    await http.post(f"/api/ops/jobs/{job}/pause", headers=headers)  # already paused: nothing changes, still recorded
    answer = await http.get("/api/ops/audit", headers=headers)
    entries = answer.json()["entries"]
    assert [entry["action"] for entry in entries] == ["job.pause", "job.pause", "job.update"]
    update = entries[2]
    assert update["actor"] == "ops:alice" and update["object_name"] == "nightly-export" and update["object_id"] == job
    assert update["before"]["schedule_type"] == "manual" and update["before"]["schedule"] is None
    assert update["after"]["schedule_type"] == "interval" and update["after"]["schedule"] == "every 5m"
    assert "updated_at" not in update["after"]
    assert entries[1]["before"] == {"enabled": True} and entries[1]["after"] == {"enabled": False}
    assert entries[0]["before"] is None and entries[0]["detail"] == {"p_job_id": job, "p_enabled": False}
    # Filtered by who did it, and by what it was done to.
    assert len((await http.get("/api/ops/audit?actor=ops:alice&limit=2", headers=headers)).json()["entries"]) == 2
    assert (await http.get("/api/ops/audit?actor=cli", headers=headers)).json()["entries"] == []
    assert len((await http.get(f"/api/ops/audit?object_id={job}", headers=headers)).json()["entries"]) == 3


async def test_a_password_is_never_in_the_audit(http, sql, objects):
    headers = await headers_for(http, "alice")
    response = await http.post(
        "/api/ops/operators",
        json={"name": "nina", "role": "viewer", "password": "nina's secret words"},
        headers=headers,
    )
    assert response.status_code == 201
    response = await http.post("/api/ops/operators/nina/password", json={}, headers=headers)
    generated = response.json()["password"]
    text = await sql.fetchval("select jsonb_agg(to_jsonb(a))::text from public.ops_audit a")
    stored = await sql.fetchval("select password_hash from public.ops_users where name = 'nina'")
    for value in ("nina's secret words", generated, stored, "scrypt$"):
        assert value not in text
    change = await sql.fetchrow("select before, after from public.ops_audit where action = 'operator.password'")
    assert json.loads(change["after"])["password_hash"] == "(changed)"


async def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(http, sql, objects):
    headers = await headers_for(http, "alice")
    for body in ({"role": "operator"}, {"disabled": True}):
        response = await http.patch("/api/ops/operators/alice", json=body, headers=headers)
        assert response.status_code == 409, response.text
        assert "no enabled admin" in response.json()["error"]
    await http.patch("/api/ops/operators/olga", json={"role": "admin"}, headers=headers)
    assert (await http.patch("/api/ops/operators/alice", json={"role": "operator"}, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/api/ops/operators", {"name": "Bad Name", "role": "viewer"}, 422, "name"),
        ("POST", "/api/ops/operators", {"name": "nina", "role": "root"}, 422, "role"),
        ("POST", "/api/ops/operators", {"name": "nina", "role": "viewer", "password": "short"}, 422, "password"),
        ("POST", "/api/ops/operators", {"name": "alice", "role": "viewer"}, 409, None),
        ("POST", "/api/ops/operators", {"name": "nina", "role": "viewer", "extra": 1}, 422, "extra"),
        ("PATCH", "/api/ops/operators/nobody", {"role": "viewer"}, 404, None),
        ("PATCH", "/api/ops/operators/tom", {}, 422, "body"),
        ("POST", "/api/ops/operators/nobody/password", {}, 404, None),
    ],
)
async def test_operator_management_refusals_are_clear(http, sql, objects, method, path, body, status, field):
    before = await state(sql)
    response = await http.request(method, path, json=body, headers=await headers_for(http, "cron-secret"))
    assert response.status_code == status, response.text
    assert response.json().get("field") == field
    assert await state(sql) == before
