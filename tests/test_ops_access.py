"""The operator console's access rules, through HTTP against the app (no browser), both adapters.

Bearer (the cron secret: an admin, for scripts) or a session cookie: a
random id whose hash lives in ops_sessions, opened by an operator's name and
password, or by the cron secret only while no operator exists (or with
OPS_SECRET_SIGNIN). Logout, disabling and a password change end sessions at
once; rotating the secret ends the secret's sessions. Cookie-carried writes
need the custom header and this origin (by Host alone); the page and its
assets carry a strict CSP and never a secret. A tiny test-only router on the
same guard stands in for the data routes here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from lib.app import create_app
from lib.ops import OpsReader, OpsRoute, OpsWriter, router
from lib.ops.routes import ASSETS, CSP
from lib.ops.session import COOKIE_NAME, SESSION_SECONDS
from lib.settings import Settings
from tests.conftest import SECRET
from tests.ops_people import PASSWORD, add_operator, cookie_of, sign_in, sign_in_with_secret, with_cookie

NEXT = "ops-next-secret-fedcba9876543210"
BOT_TOKEN = "123456:bot-token-ABCDEFGHIJKLMNOP"
WEBHOOK_KEY = "webhook-signing-key-0011223344"

BASE = "http://console.test"
ORIGIN = {"Origin": BASE}
WRITE = {"X-Cronrelay-Request": "1", "Origin": BASE}


def _mounted(routes: Iterable[Any], path: str) -> bool:
    for route in routes:
        if getattr(route, "path", None) == path:
            return True
        inner = getattr(route, "original_router", None)
        if inner is not None and _mounted(inner.routes, path):
            return True
    return False


def ops_app(settings_source: Callable[[], Settings]) -> FastAPI:
    """The real app with the console router, whether or not lib/app.py includes it yet."""
    app = create_app(settings_source)
    if not _mounted(app.routes, "/api/ops/session"):
        app.include_router(router)
    return app


# A stand-in for the data routes: the same guard, the same route class.
probe = APIRouter(prefix="/api/ops/test-probe", route_class=OpsRoute)


@probe.get("")
async def probe_read(access: OpsReader) -> JSONResponse:
    return JSONResponse({"read": True, "via": access.via, "who": access.actor.who})


@probe.api_route("", methods=["POST", "PATCH", "DELETE"])
async def probe_write(access: OpsWriter) -> JSONResponse:
    return JSONResponse({"written": True, "via": access.via, "who": access.actor.who})


@probe.get("/write-on-get")
async def probe_write_on_get(access: OpsWriter) -> JSONResponse:
    return JSONResponse({"written": True})


class Source:
    """A settings source the test can change between requests (a rotation)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> Settings:
        return self.settings


def client_for(source: Callable[[], Settings], base_url: str = BASE) -> httpx.AsyncClient:
    app = ops_app(source)
    app.include_router(probe)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(telegram_bot_token=BOT_TOKEN, webhook_signing_secret=WEBHOOK_KEY)


@pytest.fixture
def source(settings: Settings) -> Source:
    return Source(settings)


@pytest.fixture
async def http(source: Source, db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(source) as client:
        yield client


@pytest.fixture
async def alice(sql: asyncpg.Connection) -> str:
    """An admin: once she exists, the page no longer takes the cron secret."""
    await add_operator(sql, "alice", "admin")
    return "alice"


def cookie_attributes(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The cookie's value and its attributes (names lower-cased) from the one Set-Cookie."""
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    first, *rest = [part.strip() for part in headers[0].split(";")]
    name, _, value = first.partition("=")
    assert name == COOKIE_NAME
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return value, attributes


async def session_of(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await http.get("/api/ops/session", headers=with_cookie(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- who gets in ------------------------------------------------------------------


async def test_no_credentials_get_401_on_reads_and_writes(http):
    for method in ("GET", "POST", "PATCH", "DELETE"):
        response = await http.request(method, "/api/ops/test-probe", headers=WRITE)
        assert response.status_code == 401, method
        assert response.json() == {"error": "unauthorized"}
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization", [f"Bearer {SECRET}x", f"Basic {SECRET}", SECRET, "Bearer ", "Bearer wrong-secret-0123456789"]
)
async def test_wrong_bearer_gets_401_even_with_a_valid_cookie(http, alice, authorization):
    token = await sign_in(http, alice)
    response = await http.get("/api/ops/test-probe", headers=with_cookie(token, {"Authorization": authorization}))
    assert response.status_code == 401


async def test_bearer_reads_and_writes_as_the_cron_secret_without_the_console_headers(source, make_settings, db):
    source.settings = make_settings(cron_secret_next=NEXT)
    async with client_for(source) as http:
        for secret in (SECRET, NEXT):
            bearer = {"Authorization": f"bearer {secret}"}
            response = await http.get("/api/ops/test-probe", headers=bearer)
            assert response.json() == {"read": True, "via": "bearer", "who": "cron-secret"}
            # No X-Cronrelay-Request, and an Origin from elsewhere: the secret itself is the proof.
            response = await http.post("/api/ops/test-probe", headers={**bearer, "Origin": "https://evil.test"})
            assert response.status_code == 200
            assert response.json() == {"written": True, "via": "bearer", "who": "cron-secret"}
            session = (await http.get("/api/ops/session", headers=bearer)).json()
            assert session["signed_in"] is True and session["role"] == "admin" and session["who"] == "cron-secret"


@pytest.mark.parametrize(("secret", "message"), [(None, "CRON_SECRET is not set"), ("short", "shorter than 16")])
async def test_no_usable_cron_secret_fails_closed_with_503(source, make_settings, db, secret, message):
    source.settings = make_settings(cron_secret=secret)
    async with client_for(source) as http:
        answers = [
            await http.get("/api/ops/test-probe", headers={"Authorization": "Bearer short"}),
            await http.get("/api/ops/session"),
            await http.post("/api/ops/login", json={"secret": "short"}),
            await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD}),
        ]
    for response in answers:
        assert response.status_code == 503
        assert message in response.json()["error"]
        assert COOKIE_NAME not in response.headers.get("set-cookie", "")


# -- sign-in with a name and password -----------------------------------------------------


async def test_login_sets_an_httponly_strict_cookie_holding_a_random_id(http, sql, alice):
    response = await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD}, headers=ORIGIN)
    assert response.status_code == 200
    assert response.json() == {"signed_in": True, "user": "alice", "role": "admin", "via": "password"}
    value, attributes = cookie_attributes(response)
    assert len(value) >= 40
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == "/api/ops"
    assert 0 < int(attributes["max-age"]) <= 43200
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert "domain" not in attributes
    # The database holds its hash only, for at most 12 hours.
    rows = await sql.fetch("select token_hash, expires_at - created_at as life from public.ops_sessions")
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(value.encode()).hexdigest()]
    assert rows[0]["life"].total_seconds() <= SESSION_SECONDS
    assert value not in str(await sql.fetch("select * from public.ops_sessions"))


async def test_two_sign_ins_get_two_different_sessions(http, alice):
    first, second = await sign_in(http, alice), await sign_in(http, alice)
    assert first != second


@pytest.mark.parametrize(
    ("base", "headers"),
    [
        ("https://console.test", {"Origin": "https://console.test"}),
        # Vercel terminates TLS and says so in x-forwarded-proto.
        (BASE, {"x-forwarded-proto": "https", "Origin": "https://console.test"}),
    ],
)
async def test_login_over_https_sets_a_secure_cookie(source, alice, base, headers):
    async with client_for(source, base_url=base) as http:
        response = await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD}, headers=headers)
    assert response.status_code == 200, response.text
    assert "secure" in cookie_attributes(response)[1]


async def test_login_accepts_a_form_post(http, alice):
    response = await http.post("/api/ops/login", data={"user": "alice", "password": PASSWORD}, headers=ORIGIN)
    assert response.status_code == 200
    token, _ = cookie_attributes(response)
    assert (await session_of(http, token))["user"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"user": "alice", "password": "not the password at all"},
        {"user": "nobody", "password": PASSWORD},
        {"user": "dora", "password": PASSWORD},  # disabled
    ],
)
async def test_wrong_name_or_password_or_disabled_gets_401_and_no_cookie(http, sql, alice, body, caplog):
    await add_operator(sql, "dora", "admin", disabled=True)
    response = await http.post("/api/ops/login", json=body, headers=ORIGIN)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong name or password"}
    assert "set-cookie" not in response.headers
    assert body["password"] not in caplog.text
    assert await sql.fetchval("select count(*) from public.ops_sessions") == 0


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {}}, 422),
        ({"json": {"user": "alice"}}, 422),
        ({"json": {"user": "alice", "password": 5}}, 422),
        ({"json": {"secret": 5}}, 422),
        ({"json": ["alice"]}, 422),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": b"[" * 100_00 + b"]" * 100_00, "headers": {"Content-Type": "application/json"}}, 413),
        ({"content": SECRET.encode(), "headers": {"Content-Type": "text/plain"}}, 415),
    ],
)
async def test_login_without_its_fields_is_refused(http, kwargs, status):
    response = await http.post("/api/ops/login", **kwargs)
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert response.json()["error"]


@pytest.mark.parametrize(
    "origin", ["https://evil.test", "null", "http://console.test.evil.test", "http://console.test:8080"]
)
async def test_login_from_another_origin_is_refused(http, alice, origin):
    # Login CSRF: another site must not sign this browser in to a session it chose.
    body = {"user": "alice", "password": PASSWORD}
    response = await http.post("/api/ops/login", json=body, headers={"Origin": origin})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_login_without_origin_works_for_curl(http, alice):
    response = await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD})
    assert response.status_code == 200


async def test_a_cookie_signs_in_reads_as_its_operator(http, alice):
    token = await sign_in(http, alice)
    assert (await http.get("/api/ops/session")).json()["signed_in"] is False
    session = await session_of(http, token)
    assert session == {"signed_in": True, "user": "alice", "who": "ops:alice", "role": "admin", "via": "cookie"}
    response = await http.get("/api/ops/test-probe", headers=with_cookie(token))
    assert response.json() == {"read": True, "via": "cookie", "who": "ops:alice"}


# -- sessions end at once -----------------------------------------------------------


async def test_logout_ends_the_session_in_the_database(http, sql, alice):
    response = await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD}, headers=ORIGIN)
    token = cookie_of(response)
    assert (await http.get("/api/ops/session")).json()["signed_in"] is True  # the client's jar sends it
    response = await http.post("/api/ops/logout", headers=ORIGIN)
    assert response.json() == {"signed_in": False}
    value, attributes = cookie_attributes(response)
    assert value in ("", '""')
    assert attributes["max-age"] == "0" and attributes["path"] == "/api/ops"
    # The old cookie, kept by someone who copied it, reads and writes nothing any more.
    http.cookies.clear()
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))).status_code == 401
    assert await sql.fetchval("select count(*) from public.ops_sessions") == 0


async def test_disabling_an_operator_ends_its_sessions_at_once(http, sql, alice):
    await add_operator(sql, "olga", "operator")
    token = await sign_in(http, "olga")
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200
    admin = await sign_in(http, alice)
    response = await http.patch("/api/ops/operators/olga", json={"disabled": True}, headers=with_cookie(admin, WRITE))
    assert response.status_code == 200, response.text
    assert response.json()["operator"]["disabled"] is True
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))).status_code == 401
    # Enabled again, the old session stays dead: its row is gone.
    await http.patch("/api/ops/operators/olga", json={"disabled": False}, headers=with_cookie(admin, WRITE))
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401


async def test_a_disabled_flag_set_by_sql_is_honoured_too(http, sql, alice):
    token = await sign_in(http, alice)
    await sql.execute("update public.ops_users set disabled = true where name = 'alice'")
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401


async def test_a_password_change_ends_every_session_of_the_operator(http, sql, alice):
    await add_operator(sql, "olga", "operator")
    token = await sign_in(http, "olga")
    admin = await sign_in(http, alice)
    response = await http.post(
        "/api/ops/operators/olga/password", json={"password": "a brand new password"}, headers=with_cookie(admin, WRITE)
    )
    assert response.status_code == 200, response.text
    assert "password" not in response.json()  # chosen, not generated: not echoed
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.post("/api/ops/login", json={"user": "olga", "password": PASSWORD})).status_code == 401
    assert (
        await http.post("/api/ops/login", json={"user": "olga", "password": "a brand new password"})
    ).status_code == 200


async def test_a_role_change_applies_to_the_next_request(http, sql, alice):
    await add_operator(sql, "olga", "operator")
    token = await sign_in(http, "olga")
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))).status_code == 200
    admin = await sign_in(http, alice)
    await http.patch("/api/ops/operators/olga", json={"role": "viewer"}, headers=with_cookie(admin, WRITE))
    response = await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))
    assert response.status_code == 403
    assert "viewer" in response.json()["error"]
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200


async def test_an_expired_session_is_refused(http, sql, alice):
    token = await sign_in(http, alice)
    await sql.execute("update public.ops_sessions set created_at = created_at - interval '13 hours', "
                      "expires_at = expires_at - interval '13 hours'")  # fmt: skip
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401


async def test_the_session_table_refuses_a_life_over_12_hours(sql, alice):
    with pytest.raises(asyncpg.CheckViolationError):
        await sql.execute(
            "insert into public.ops_sessions (token_hash, user_id, expires_at) "
            "select repeat('a', 64), id, now() + interval '13 hours' from public.ops_users"
        )


# -- the cron secret on the page ------------------------------------------------------


async def test_the_secret_signs_in_to_the_page_only_while_no_operator_exists(http, sql):
    assert (await http.get("/api/ops/session")).json() == {"signed_in": False, "bootstrap": True, "secret_signin": True}
    token = await sign_in_with_secret(http, SECRET)
    session = await session_of(http, token)
    assert session["who"] == "cron-secret" and session["role"] == "admin" and session["user"] is None
    # The bootstrap: make the first admin from that session.
    response = await http.post(
        "/api/ops/operators", json={"name": "alice", "role": "admin"}, headers=with_cookie(token, WRITE)
    )
    assert response.status_code == 201, response.text
    generated = response.json()["password"]
    assert len(generated) >= 20
    # From now on the secret signs in to nothing on the page, and its session is over.
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.get("/api/ops/session")).json() == {
        "signed_in": False,
        "bootstrap": False,
        "secret_signin": False,
    }
    response = await http.post("/api/ops/login", json={"secret": SECRET}, headers=ORIGIN)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    # The generated password is the way in.
    assert (await session_of(http, await sign_in(http, "alice", generated)))["user"] == "alice"
    audit = await sql.fetchrow("select actor, action, object_name from public.ops_audit where action = 'operator.add'")
    assert dict(audit) == {"actor": "cron-secret", "action": "operator.add", "object_name": "alice"}


async def test_ops_secret_signin_keeps_the_secret_usable_on_the_page(source, make_settings, alice):
    source.settings = make_settings(ops_secret_signin=True)
    async with client_for(source) as http:
        token = await sign_in_with_secret(http, SECRET)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).json()["who"] == "cron-secret"
        source.settings = make_settings()
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401


async def test_wrong_secret_gets_401_and_no_cookie(http, caplog):
    response = await http.post("/api/ops/login", json={"secret": "wrong-secret-0123456789abc"}, headers=ORIGIN)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong secret"}
    assert "set-cookie" not in response.headers
    assert "wrong-secret-0123456789abc" not in caplog.text and SECRET not in caplog.text


async def test_rotating_cron_secret_ends_the_secrets_sessions(source, make_settings, db):
    source.settings = make_settings(cron_secret_next=NEXT)
    async with client_for(source) as http:
        token = await sign_in_with_secret(http, SECRET)
        next_token = await sign_in_with_secret(http, NEXT)
        for each in (token, next_token):
            assert (await http.get("/api/ops/test-probe", headers=with_cookie(each))).status_code == 200
        # NEXT becomes CRON_SECRET: every session opened with the old one is dead.
        source.settings = make_settings(cron_secret=NEXT)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(next_token))).status_code == 200


# -- the write guard --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_cookie_write_passes_with_the_header_and_this_origin(http, alice, method):
    token = await sign_in(http, alice)
    response = await http.request(method, "/api/ops/test-probe", headers=with_cookie(token, WRITE))
    assert response.status_code == 200
    assert response.json() == {"written": True, "via": "cookie", "who": "ops:alice"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": BASE},
        {"X-Cronrelay-Request": "0", "Origin": BASE},
        {"X-Cronrelay-Request": "1"},
        {"X-Cronrelay-Request": "1", "Origin": "https://evil.test"},
        {"X-Cronrelay-Request": "1", "Origin": "null"},
        {"X-Cronrelay-Request": "1", "Origin": "https://console.test"},  # another scheme is another origin
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_cookie_write_without_header_or_from_elsewhere_gets_403(http, alice, method, headers):
    token = await sign_in(http, alice)
    response = await http.request(method, "/api/ops/test-probe", headers=with_cookie(token, headers))
    assert response.status_code == 403
    assert response.json()["error"].startswith("a write from the console must")


async def test_same_origin_is_judged_by_host_alone_not_x_forwarded_host(http, alice):
    token = await sign_in(http, alice)
    # An attacker's page cannot be made "same origin" by a header the client chooses.
    forged = {"x-forwarded-host": "evil.test", "X-Cronrelay-Request": "1", "Origin": "http://evil.test"}
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, forged))).status_code == 403
    proxied = {"x-forwarded-host": "evil.test", "X-Cronrelay-Request": "1", "Origin": BASE}
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, proxied))).status_code == 200
    # Behind Vercel's TLS the scheme is https (x-forwarded-proto), the host still Host's.
    https = {"x-forwarded-proto": "https", "X-Cronrelay-Request": "1", "Origin": "https://console.test"}
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, https))).status_code == 200


async def test_a_write_guard_never_passes_on_a_get(http, alice):
    token = await sign_in(http, alice)
    response = await http.get("/api/ops/test-probe/write-on-get", headers=with_cookie(token, WRITE))
    assert response.status_code == 405
    response = await http.get("/api/ops/test-probe/write-on-get", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 405


async def test_a_viewer_writes_nothing_even_through_a_route_without_its_own_check(http, sql, alice):
    await add_operator(sql, "vic", "viewer")
    token = await sign_in(http, "vic")
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200
    response = await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "token",
    ["", "x", "A" * 43, "v1.1.2.abc.def", "' or 1=1 --", "A" * 300],
)
async def test_a_made_up_cookie_is_refused(http, alice, token):
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))).status_code == 401
    assert (await http.get("/api/ops/session", headers=with_cookie(token))).json()["signed_in"] is False


async def test_the_stored_hash_itself_is_not_a_session_id(http, sql, alice):
    await sign_in(http, alice)
    stored = await sql.fetchval("select token_hash from public.ops_sessions")
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(stored))).status_code == 401


# -- the page and its headers ------------------------------------------------------------


# The console's script is ES modules in lib/ops/static/ops/, served from an allow-list of that folder.
MODULES = sorted(f"/api/ops/assets/{name}" for name in ASSETS if name.endswith(".js"))
PAGES = ["/api/ops", "/api/ops/", "/api/ops/assets/ops.css", *MODULES]
# Names that must not reach a file: the old single script, other files, a way out of the folder.
NOT_ASSETS = [
    "/api/ops/assets/missing.js",
    "/api/ops/assets/ops.js",
    "/api/ops/assets/ops/missing.js",
    "/api/ops/assets/ops/%2e%2e/routes.py",
    "/api/ops/assets/%2e%2e/routes.py",
    "/api/ops/assets/ops/..%2f..%2froutes.py",
    "/api/ops/assets/%2e%2e%2f%2e%2e%2fsettings.py",
    "/api/ops/assets/ops/main.js/",
    "/api/ops/assets//etc/passwd",
    "/api/ops/assets/ops",
]


@pytest.mark.parametrize("path", [*PAGES, "/api/ops/session", *NOT_ASSETS])
async def test_page_assets_and_answers_carry_the_strict_headers(http, path):
    response = await http.get(path)
    assert response.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"


async def test_error_answers_carry_the_strict_headers_too(http):
    for response in (
        await http.get("/api/ops/test-probe"),
        await http.post("/api/ops/login", json={"secret": "wrong-secret-0123456789"}),
    ):
        assert response.status_code == 401
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["cache-control"] == "no-store"


async def test_page_and_assets_have_their_types_and_load_nothing_from_elsewhere(http):
    page = await http.get("/api/ops")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/api/ops/assets/ops/main.js"></script>' in page.text
    assert 'href="/api/ops/assets/ops.css"' in page.text
    css = await http.get("/api/ops/assets/ops.css")
    assert css.headers["content-type"].startswith("text/css")
    modules = [await http.get(path) for path in MODULES]
    assert "/api/ops/assets/ops/main.js" in MODULES and len(MODULES) > 1
    for js in modules:
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        # Every module it imports is one the app serves (a missing one stops the whole console).
        for imported in re.findall(r'^import [^;]* from "\./([\w-]+\.js)";$', js.text, flags=re.MULTILINE):
            assert f"/api/ops/assets/ops/{imported}" in MODULES, imported
        assert "import(" not in js.text and 'from "/' not in js.text and "from 'http" not in js.text
    for text in (page.text, css.text, *(js.text for js in modules)):
        assert "http://" not in text and "https://" not in text.replace('placeholder="https://example.com/hook"', "")
        assert "//cdn" not in text and "@import" not in text
    # The CSP forbids inline code; the page must not need any.
    assert "<style" not in page.text and " style=" not in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text


@pytest.mark.parametrize("path", NOT_ASSETS)
async def test_only_the_listed_assets_are_served(http, path):
    response = await http.get(path)
    assert response.status_code == 404 and "import " not in response.text
    assert "def " not in response.text and "root:" not in response.text


def test_the_asset_list_is_the_stylesheet_and_every_module_in_the_folder():
    folder = Path(__file__).resolve().parents[1] / "lib" / "ops" / "static" / "ops"
    modules = sorted(f"ops/{path.name}" for path in folder.glob("*.js"))
    assert sorted(ASSETS) == sorted(["ops.css", *modules]) and "ops/main.js" in modules
    for media_type, path in ASSETS.values():
        assert path.is_file() and path.resolve().is_relative_to(folder.parent)
        assert media_type == ("text/css; charset=utf-8" if path.suffix == ".css" else "text/javascript; charset=utf-8")


async def test_no_secret_is_ever_on_the_page_or_in_an_answer(source, make_settings, sql, alice):
    source.settings = make_settings(
        cron_secret_next=NEXT, telegram_bot_token=BOT_TOKEN, webhook_signing_secret=WEBHOOK_KEY
    )
    settings = source.settings
    database = settings.database_url or settings.supabase_service_role_key
    assert database is not None
    stored = await sql.fetchval("select password_hash from public.ops_users where name = 'alice'")
    forbidden = [SECRET, NEXT, BOT_TOKEN, WEBHOOK_KEY, database.get_secret_value(), PASSWORD, stored]
    async with client_for(source) as http:
        token = await sign_in(http, alice)
        forbidden += [hashlib.sha256(token.encode()).hexdigest()]
        answers = [await http.get(path, headers=with_cookie(token)) for path in PAGES]
        answers.append(await http.get("/api/ops/session", headers=with_cookie(token)))
        answers.append(await http.get("/api/ops/operators", headers=with_cookie(token)))
        answers.append(await http.get("/api/ops/audit", headers=with_cookie(token)))
        answers.append(await http.post("/api/ops/login", json={"user": "alice", "password": PASSWORD}, headers=ORIGIN))
        answers.append(await http.post("/api/ops/login", json={"secret": NEXT + "x"}, headers=ORIGIN))
        answers.append(await http.post("/api/ops/logout", headers=ORIGIN))
    for response in answers:
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items() if k != "set-cookie")
        for value in forbidden:
            assert value not in seen, f"{response.request.url} shows a secret"
