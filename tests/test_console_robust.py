"""The console as robust as the engine (issue 20), over HTTP through both adapters.

- Bodies over their route's limit are 413 before they are read: from
  Content-Length, and part-way through a body sent without one.
- What the client sends that cannot be stored is a 422 naming the field:
  nesting past 32 levels, a payload over 64 KB, a lone surrogate, NaN and
  Infinity, durations and cron fields out of range; never a 500.
- One bad stored row never breaks a list: every JSON column the console
  reads, written by SQL 300 levels deep or 100 KB large, shows as a
  placeholder and every list, page and `cli jobs list` still answers.
- Anything nobody worded is still `{"error": "<one line>"}`, a 500 that
  quotes no database message.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

import lib.manage as manage
from lib.cli.main import main
from lib.settings import get_settings
from tests.conftest import AUTH
from tests.factories import HOOK, add_job, add_request

WRITE = {**AUTH, "Content-Type": "application/json"}


def nested(depth: int) -> Any:
    """A JSON value `depth` containers deep."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def hook(name: str = "nightly", **fields: Any) -> dict[str, Any]:
    return {"name": name, "kind": "webhook", "target": HOOK} | fields


def one_line_json_error(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body.get("error"), str) and "\n" not in body["error"], body
    error: str = body["error"]
    return error


# -- bodies over their limit ----------------------------------------------------------------------


async def test_a_body_announced_over_the_limit_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"x" * 10

    for path, limit in (
        ("/api/ops/login", 4 * 1024),
        ("/api/ops/jobs", 64 * 1024),
        ("/api/cron/check-stale", 64 * 1024),
    ):
        headers = {**AUTH, "Content-Length": str(limit + 1)}
        response = await client.post(path, content=body(), headers=headers)
        assert response.status_code == 413, (path, response.text)
        assert f"limit of {limit} bytes" in one_line_json_error(response)
    # Not one chunk of any of the three bodies was asked for.
    assert read == []


async def test_a_body_without_a_length_is_read_only_up_to_the_limit(client: httpx.AsyncClient) -> None:
    sent: list[int] = []

    def endless(chunk: int) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10_000):
                sent.append(chunk)
                yield b"{" * chunk

        return chunks()

    for path, limit in (("/api/ops/login", 4 * 1024), ("/api/ops/jobs", 64 * 1024)):
        sent.clear()
        response = await client.post(path, content=endless(1024), headers=AUTH)
        assert response.status_code == 413, (path, response.text)
        assert f"limit of {limit} bytes" in one_line_json_error(response)
        # A chunk past the limit at most, not the 10 MB offered.
        assert sum(sent) <= limit + 2 * 1024


async def test_bodies_at_the_limit_are_read(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    # 60 KB of payload: under the API's 64 KB, so the job is created.
    body = hook(payload={"blob": "x" * 60_000})
    response = await client.post("/api/ops/jobs", json=body, headers=WRITE)
    assert response.status_code == 201, response.text


# -- what cannot be stored is a 422 naming the field ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (hook(payload=nested(33)), "payload", "nests deeper than 32 levels"),
        (hook(payload={"text": "a\ud800b"}), "payload", "lone surrogate"),
        (hook(name="a\udfffb"), "name", "lone surrogate"),
        (hook(payload={"big": "x" * 70_000}), "body", "limit of 65536 bytes"),
        (hook(schedule_type="interval", schedule="every 99999999999999999999d"), "schedule", "out of range"),
        (hook(schedule_type="interval", schedule="1" + "0" * 400), "schedule", "out of range"),
        (hook(schedule_type="once", schedule="9999-12-31T23:59:59-14:00"), "schedule", "out of range"),
        (hook(schedule_type="cron", schedule="0 25 * * *"), "schedule", "hour 25 is out of range 0-23"),
        (hook(schedule_type="cron", schedule="61 * * * *"), "schedule", "minute 61 is out of range 0-59"),
        (hook(schedule_type="cron", schedule="0 0 * 13 *"), "schedule", "month 13 is out of range 1-12"),
    ],
)
async def test_values_that_cannot_be_stored_are_422_naming_the_field(
    client: httpx.AsyncClient, sql: asyncpg.Connection, body: dict[str, Any], field: str, words: str
) -> None:
    # Written by json.dumps as the client would send it (lone surrogates as \\ud800 escapes).
    raw = json.dumps(body).encode()
    response = await client.post("/api/ops/jobs", content=raw, headers=WRITE)
    expected = 413 if field == "body" else 422
    assert response.status_code == expected, response.text
    assert words in one_line_json_error(response)
    if expected == 422:
        assert response.json()["field"] == field
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'webhook'") == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_numbers_json_cannot_write_are_422(
    client: httpx.AsyncClient, sql: asyncpg.Connection, constant: str
) -> None:
    job = await add_job(sql, "hook")
    raw = b'{"payload": {"n": ' + constant.encode() + b"}}"
    for method, path in (("PATCH", f"/api/ops/jobs/{job}"), ("POST", f"/api/ops/jobs/{job}/run")):
        response = await client.request(method, path, content=raw, headers=WRITE)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] in ("payload", "body")
    assert await sql.fetchval("select count(*) from public.cron_run_requests") == 0


async def test_run_now_payload_limits_are_the_same_as_a_jobs(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    job = await add_job(sql, "hook")
    deep = await client.post(f"/api/ops/jobs/{job}/run", json={"payload": nested(40)}, headers=WRITE)
    assert deep.status_code == 422 and deep.json()["field"] == "payload"
    assert "32 levels" in deep.json()["error"]
    fine = await client.post(f"/api/ops/jobs/{job}/run", json={"payload": nested(31)}, headers=WRITE)
    assert fine.status_code == 201, fine.text


async def test_a_sign_in_body_nested_deep_is_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/ops/login", content=b'{"secret":' + b"[" * 2000 + b"]" * 2000 + b"}", headers=WRITE
    )
    assert response.status_code in (413, 422), response.text
    one_line_json_error(response)


# -- one bad row never breaks a list --------------------------------------------------------------

DEEP = json.dumps(nested(300))
# Random hex does not compress: over 64 KB as stored.
LARGE = json.dumps({"blob": os.urandom(60_000).hex()})


async def bad_rows(sql: asyncpg.Connection) -> dict[str, str]:
    """A row with a bad value in every JSON column the console reads, written by SQL."""
    deep_job = await add_job(sql, "deep-job")
    large_job = await add_job(sql, "large-job")
    await sql.execute("update public.cron_jobs set payload = $1::jsonb where id = $2::uuid", DEEP, deep_job)
    await sql.execute("update public.cron_jobs set payload = $1::jsonb where id = $2::uuid", LARGE, large_job)
    deep_request = await add_request(sql, deep_job)
    await sql.execute(
        "update public.cron_run_requests set status = 'error', result = $1::jsonb, payload = $1::jsonb "
        "where id = $2::uuid",
        DEEP,
        deep_request,
    )
    large_request = await add_request(sql, large_job)
    await sql.execute(
        "update public.cron_run_requests set result = $1::jsonb, payload = $1::jsonb where id = $2::uuid",
        LARGE,
        large_request,
    )
    for stats in (DEEP, LARGE):
        await sql.execute(
            "insert into public.cron_runs (job, trigger, status, started_at, finished_at, stats) "
            "values ('check-stale', 'manual', 'ok', now(), now(), $1::jsonb)",
            stats,
        )
    return {"deep_job": deep_job, "large_job": large_job, "deep_request": deep_request, "large_request": large_request}


def placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<not shown: ") and value.endswith(">")


async def test_a_bad_value_in_any_json_column_is_a_placeholder_and_every_list_answers(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    rows = await bad_rows(sql)
    check_stale = str(await sql.fetchval("select id from public.cron_jobs where name = 'check-stale'"))

    jobs = await client.get("/api/ops/jobs", headers=AUTH)
    assert jobs.status_code == 200, jobs.text
    by_name = {job["name"]: job for job in jobs.json()["jobs"]}
    assert by_name["deep-job"]["payload"] == "<not shown: nested deeper than 64 levels>"
    assert by_name["large-job"]["payload"] == "<not shown: larger than 64 KB stored>"

    requests = await client.get("/api/ops/requests", headers=AUTH)
    assert requests.status_code == 200, requests.text
    shown = {request["id"]: request for request in requests.json()["requests"]}
    for key in ("deep_request", "large_request"):
        assert placeholder(shown[rows[key]]["result"]) and placeholder(shown[rows[key]]["payload"])

    runs = await client.get("/api/ops/runs", headers=AUTH)
    assert runs.status_code == 200, runs.text
    assert sum(placeholder(run["stats"]) for run in runs.json()["runs"]) == 2

    for path in (
        f"/api/ops/jobs/{rows['deep_job']}",
        f"/api/ops/jobs/{rows['large_job']}",
        f"/api/ops/jobs/{check_stale}",
        f"/api/ops/requests/{rows['deep_request']}",
        f"/api/ops/requests/{rows['large_request']}",
    ):
        page = await client.get(path, headers=AUTH)
        assert page.status_code == 200, (path, page.text)

    # The bad job can still be fixed from the console: an edit of its payload replaces it.
    fixed = await client.patch(f"/api/ops/jobs/{rows['deep_job']}", json={"payload": {"ok": 1}}, headers=WRITE)
    assert fixed.status_code == 200 and fixed.json()["job"]["payload"] == {"ok": 1}
    # And retried: the retry carries the request's payload as stored.
    retried = await client.post(f"/api/ops/requests/{rows['deep_request']}/retry", headers=WRITE)
    assert retried.status_code == 201, retried.text


async def test_cli_jobs_list_answers_with_a_bad_row(
    pg_dsn: str, sql: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await bad_rows(sql)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    try:
        import asyncio

        code = await asyncio.to_thread(main, ["jobs", "list", "--json"])
        out, err = capsys.readouterr()
    finally:
        get_settings.cache_clear()
    assert code == 0, err
    names = {job["name"] for job in json.loads(out)["jobs"]}
    assert {"deep-job", "large-job"} <= names


# -- the last resort --------------------------------------------------------------------------------


async def test_an_error_nobody_worded_is_a_one_line_json_500(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("secret-looking detail")

    monkeypatch.setattr(manage, "list_jobs", broken)
    response = await client.get("/api/ops/jobs", headers=AUTH)
    assert response.status_code == 500
    error = one_line_json_error(response)
    assert error.startswith("internal error (KeyError)") and "secret-looking" not in error
    # The console's headers still apply.
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_a_database_error_is_never_quoted(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "hook")
    # A check the database makes and lib/manage does not: the value it refuses must not come back.
    await sql.execute(
        "alter table public.cron_jobs add constraint test_no_marker check (payload::text not like '%marker-7731%')"
    )
    try:
        response = await client.patch(f"/api/ops/jobs/{job}", json={"payload": {"x": "marker-7731"}}, headers=WRITE)
    finally:
        await sql.execute("alter table public.cron_jobs drop constraint test_no_marker")
    assert response.status_code == 500
    error = one_line_json_error(response)
    assert "marker-7731" not in error and "test_no_marker" not in error and "SQLSTATE 23514" in error


async def test_credentials_in_a_stored_url_are_never_shown(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    # Written by SQL (or before the outbound policy refused them at write time).
    job = await add_job(sql, "old-hook", target="https://deploy:hunter2-pw@hooks.example.test/run?x=1")
    listed = await client.get("/api/ops/jobs?q=old-hook", headers=AUTH)
    shown = await client.get(f"/api/ops/jobs/{job}", headers=AUTH)
    assert "hunter2-pw" not in listed.text and "hunter2-pw" not in shown.text
    assert shown.json()["job"]["target"] == "https://***@hooks.example.test/run?x=1"
    # An edit of another field leaves the stored target as it was.
    edited = await client.patch(f"/api/ops/jobs/{job}", json={"name": "old-hook-2"}, headers=WRITE)
    assert edited.status_code == 200 and "hunter2-pw" not in edited.text
    assert await sql.fetchval("select target from public.cron_jobs where id = $1::uuid", job) == (
        "https://deploy:hunter2-pw@hooks.example.test/run?x=1"
    )


def test_each_route_has_its_limit() -> None:
    from lib.body_limit import limit_for

    assert [limit_for(path) for path in ("/api/ops/login", "/api/ops/jobs", "/api/cron/x", "/api/worker/sync")] == [
        4 * 1024,
        64 * 1024,
        64 * 1024,
        1024 * 1024,
    ]
