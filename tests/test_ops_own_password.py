"""POST /api/ops/me/password: a signed-in operator of any role changes its own password.

The account is the session's own; the current password is checked under the
sign-in throttle (a wrong one counts as a failed sign-in for that account and
address); the other sessions end and this one stays; the audit records the
change without the password or its hash.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from lib.settings import Settings
from tests.conftest import AUTH, SECRET, app_client
from tests.ops_people import PASSWORD, WRITE, add_operator, sign_in, sign_in_with_secret, with_cookie

NEW = "a brand new passphrase 42"
PATH = "/api/ops/me/password"


@pytest.fixture
async def http(settings: Settings, db: object) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as client:
        yield client


async def change(http: httpx.AsyncClient, token: str, current: str, new: str, **extra: str) -> httpx.Response:
    return await http.post(PATH, json={"current": current, "new": new, **extra}, headers=with_cookie(token, WRITE))


async def test_a_viewer_changes_its_password_and_only_its_other_sessions_end(
    http: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    await add_operator(sql, "vera", "viewer")
    await add_operator(sql, "olga", "operator")
    here = await sign_in(http, "vera")
    elsewhere = await sign_in(http, "vera")
    someone_else = await sign_in(http, "olga")

    answer = await change(http, here, PASSWORD, NEW)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sessions_ended"] == 1
    assert body["operator"]["name"] == "vera" and body["operator"]["sessions"] == 1
    assert "password" not in json.dumps(body).replace("password_changed_at", "").replace("has_password", "")

    assert (await http.get("/api/ops/session", headers=with_cookie(here))).json()["user"] == "vera"
    assert (await http.get("/api/ops/jobs", headers=with_cookie(here))).status_code == 200
    assert (await http.get("/api/ops/jobs", headers=with_cookie(elsewhere))).status_code == 401
    assert (await http.get("/api/ops/jobs", headers=with_cookie(someone_else))).status_code == 200

    old = await http.post("/api/ops/login", json={"user": "vera", "password": PASSWORD})
    assert old.status_code == 401
    await sign_in(http, "vera", NEW)
    # The right current password was not a failure: only the wrong sign-in above counts.
    assert await sql.fetchval("select count(*) from ops_signin_failures where account = 'vera'") == 1

    [entry] = await sql.fetch(
        "select actor, object_name, before, after from ops_audit where action = 'operator.password'"
    )
    assert entry["actor"] == "ops:vera" and entry["object_name"] == "vera"
    assert json.loads(entry["before"])["password_hash"] == "(hidden)"
    assert json.loads(entry["after"])["password_hash"] == "(changed)"
    audit = json.dumps([dict(row) for row in await sql.fetch("select before, after, detail from ops_audit")])
    assert PASSWORD not in audit and NEW not in audit and "scrypt$" not in audit


async def test_a_wrong_current_password_is_refused_and_counted_until_429(
    http: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    await add_operator(sql, "opal", "operator")
    token = await sign_in(http, "opal")
    wrong = await change(http, token, "not my password at all", NEW)
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "the current password is wrong", "field": "current"}
    # Counted as a failed sign-in for this account and this address; the session survives it.
    [failure] = await sql.fetch("select account, address from ops_signin_failures")
    assert failure["account"] == "opal" and failure["address"] == "127.0.0.1"
    assert (await http.get("/api/ops/jobs", headers=with_cookie(token))).status_code == 200

    for _ in range(9):
        assert (await change(http, token, "still not it, sorry", NEW)).status_code == 403
    throttled = await change(http, token, PASSWORD, NEW)
    assert throttled.status_code == 429
    assert throttled.json()["error"].startswith("too many wrong passwords; try again in")
    assert 0 < int(throttled.headers["retry-after"]) <= 900
    # Nothing changed: the old password still signs in once the window has passed.
    await sql.execute("update ops_signin_failures set failed_at = failed_at - interval '16 minutes'")
    await sign_in(http, "opal", PASSWORD)


async def test_a_weak_new_password_is_422_with_the_ops_users_message(
    http: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    await add_operator(sql, "vic", "viewer")
    token = await sign_in(http, "vic")
    short = await change(http, token, PASSWORD, "too short")
    assert short.status_code == 422
    assert short.json() == {"error": "password must be at least 12 characters", "field": "new"}
    same = await change(http, token, PASSWORD, PASSWORD)
    assert same.status_code == 422 and same.json()["field"] == "new"
    # A name in the body is refused: the account is the session's own.
    named = await change(http, token, PASSWORD, NEW, user="admin")
    assert named.status_code == 422 and named.json()["field"] == "user"
    assert await sql.fetchval("select count(*) from ops_audit") == 0
    await sign_in(http, "vic", PASSWORD)


async def test_a_cron_secret_session_and_the_bearer_have_no_password_to_change(
    http: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    token = await sign_in_with_secret(http, SECRET)
    refused = await change(http, token, SECRET, NEW)
    assert refused.status_code == 409
    assert "signed in with the cron secret, which has no password of its own" in refused.json()["error"]
    bearer = await http.post(PATH, json={"current": SECRET, "new": NEW}, headers=AUTH)
    assert bearer.status_code == 409
    assert SECRET not in refused.text and SECRET not in bearer.text


async def test_the_write_guard_applies(http: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    await add_operator(sql, "vera", "viewer")
    token = await sign_in(http, "vera")
    no_header = await http.post(PATH, json={"current": PASSWORD, "new": NEW}, headers=with_cookie(token))
    assert no_header.status_code == 403
    signed_out = await http.post(PATH, json={"current": PASSWORD, "new": NEW}, headers=WRITE)
    assert signed_out.status_code == 401
    await sign_in(http, "vera", PASSWORD)
