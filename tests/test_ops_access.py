"""The operator console's access rules, through HTTP against the app (no browser).

Bearer or session cookie; the cookie is an HMAC keyed from the secret, so a
rotation ends it; cookie-carried writes need the custom header and this
origin; the page and its assets carry a strict CSP and never a secret.
The data routes come later: a tiny test-only router on the same guard stands
in for them here.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from lib.app import create_app
from lib.ops import OpsReader, OpsRoute, OpsWriter, router
from lib.ops.routes import CSP
from lib.ops.session import COOKIE_NAME, SESSION_SECONDS, mint_token, signing_key
from lib.settings import Settings, load_settings

SECRET = "ops-secret-0123456789abcdef"
NEXT = "ops-next-secret-fedcba9876543210"
BOT_TOKEN = "123456:bot-token-ABCDEFGHIJKLMNOP"
DATABASE_URL = "postgresql://cron:db-password-9f8e7d@db.internal.test:5432/cronrelay"
WEBHOOK_KEY = "webhook-signing-key-0011223344"
SERVICE_KEY = "sb_secret_ops_test_service_role_key"

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
    return JSONResponse({"read": True, "via": access.via})


@probe.api_route("", methods=["POST", "PATCH", "DELETE"])
async def probe_write(access: OpsWriter) -> JSONResponse:
    return JSONResponse({"written": True, "via": access.via})


@probe.get("/write-on-get")
async def probe_write_on_get(access: OpsWriter) -> JSONResponse:
    return JSONResponse({"written": True})


def make(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "cron_secret": SECRET,
        "database_url": DATABASE_URL,
        "telegram_bot_token": BOT_TOKEN,
        "webhook_signing_secret": WEBHOOK_KEY,
        **overrides,
    }
    return load_settings(**values)


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
def source() -> Source:
    return Source(make())


@pytest.fixture
async def http(source: Source):
    async with client_for(source) as client:
        yield client


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


async def sign_in(http: httpx.AsyncClient, **headers: str) -> str:
    """A fresh session token; the client's own jar is emptied, so each request shows only what the test sends."""
    response = await http.post("/api/ops/login", json={"secret": SECRET}, headers=headers or ORIGIN)
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return cookie_attributes(response)[0]


def with_cookie(token: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={token}", **(extra or {})}


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
async def test_wrong_bearer_gets_401_even_with_a_valid_cookie(http, authorization):
    token = await sign_in(http)
    response = await http.get("/api/ops/test-probe", headers=with_cookie(token, {"Authorization": authorization}))
    assert response.status_code == 401


async def test_bearer_reads_and_writes_without_the_console_headers(source):
    source.settings = make(cron_secret_next=NEXT)
    async with client_for(source) as http:
        for secret in (SECRET, NEXT):
            bearer = {"Authorization": f"bearer {secret}"}
            response = await http.get("/api/ops/test-probe", headers=bearer)
            assert response.json() == {"read": True, "via": "bearer"}
            # No X-Cronrelay-Request, and an Origin from elsewhere: the secret itself is the proof.
            response = await http.post("/api/ops/test-probe", headers={**bearer, "Origin": "https://evil.test"})
            assert response.status_code == 200
            assert response.json() == {"written": True, "via": "bearer"}
            assert (await http.get("/api/ops/session", headers=bearer)).json() == {"signed_in": True}


@pytest.mark.parametrize(("secret", "message"), [(None, "CRON_SECRET is not set"), ("short", "shorter than 16")])
async def test_no_usable_cron_secret_fails_closed_with_503(source, secret, message):
    source.settings = make(cron_secret=secret)
    async with client_for(source) as http:
        answers = [
            await http.get("/api/ops/test-probe", headers={"Authorization": "Bearer short"}),
            await http.get("/api/ops/session"),
            await http.post("/api/ops/login", json={"secret": "short"}),
        ]
    for response in answers:
        assert response.status_code == 503
        assert message in response.json()["error"]
        assert COOKIE_NAME not in response.headers.get("set-cookie", "")


# -- sign-in ----------------------------------------------------------------------


async def test_login_sets_an_httponly_strict_cookie_scoped_to_the_console(http):
    response = await http.post("/api/ops/login", json={"secret": SECRET}, headers=ORIGIN)
    assert response.status_code == 200
    assert response.json() == {"signed_in": True}
    value, attributes = cookie_attributes(response)
    assert value.startswith("v1.")
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == "/api/ops"
    assert 0 < int(attributes["max-age"]) <= 43200
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert "domain" not in attributes


@pytest.mark.parametrize(
    ("base", "headers"),
    [
        ("https://console.test", {"Origin": "https://console.test"}),
        # Vercel terminates TLS and says so in x-forwarded-proto.
        (BASE, {"x-forwarded-proto": "https", "Origin": "https://console.test"}),
    ],
)
async def test_login_over_https_sets_a_secure_cookie(source, base, headers):
    async with client_for(source, base_url=base) as http:
        response = await http.post("/api/ops/login", json={"secret": SECRET}, headers=headers)
    assert response.status_code == 200, response.text
    assert "secure" in cookie_attributes(response)[1]


async def test_login_accepts_a_form_post(http):
    response = await http.post("/api/ops/login", data={"secret": SECRET}, headers=ORIGIN)
    assert response.status_code == 200
    token, _ = cookie_attributes(response)
    assert (await http.get("/api/ops/session", headers=with_cookie(token))).json() == {"signed_in": True}


@pytest.mark.parametrize(
    "body", [{"json": {"secret": "wrong-secret-0123456789abc"}}, {"data": {"secret": SECRET + "x"}}]
)
async def test_wrong_secret_gets_401_and_no_cookie(http, body, caplog):
    response = await http.post("/api/ops/login", headers=ORIGIN, **body)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong secret"}
    assert "set-cookie" not in response.headers
    assert "wrong-secret-0123456789abc" not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {}}, 422),
        ({"json": {"secret": 5}}, 422),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": SECRET.encode(), "headers": {"Content-Type": "text/plain"}}, 415),
    ],
)
async def test_login_without_a_secret_field_is_refused(http, kwargs, status):
    response = await http.post("/api/ops/login", **kwargs)
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert response.json()["error"]


@pytest.mark.parametrize(
    "origin", ["https://evil.test", "null", "http://console.test.evil.test", "http://console.test:8080"]
)
async def test_login_from_another_origin_is_refused(http, origin):
    # Login CSRF: another site must not sign this browser in to a session it chose.
    response = await http.post("/api/ops/login", json={"secret": SECRET}, headers={"Origin": origin})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_login_without_origin_works_for_curl(http):
    response = await http.post("/api/ops/login", json={"secret": SECRET})
    assert response.status_code == 200


async def test_a_cookie_signs_in_reads(http):
    token = await sign_in(http)
    assert (await http.get("/api/ops/session")).json() == {"signed_in": False}
    assert (await http.get("/api/ops/session", headers=with_cookie(token))).json() == {"signed_in": True}
    response = await http.get("/api/ops/test-probe", headers=with_cookie(token))
    assert response.json() == {"read": True, "via": "cookie"}


async def test_logout_clears_the_cookie(http):
    await http.post("/api/ops/login", json={"secret": SECRET}, headers=ORIGIN)
    assert (await http.get("/api/ops/session")).json() == {"signed_in": True}  # the client's jar sends it
    response = await http.post("/api/ops/logout", headers=ORIGIN)
    assert response.json() == {"signed_in": False}
    value, attributes = cookie_attributes(response)
    assert value in ("", '""')
    assert attributes["max-age"] == "0" and attributes["path"] == "/api/ops"
    assert (await http.get("/api/ops/session")).json() == {"signed_in": False}
    assert (await http.get("/api/ops/test-probe")).status_code == 401


# -- the write guard --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_cookie_write_passes_with_the_header_and_this_origin(http, method):
    token = await sign_in(http)
    response = await http.request(method, "/api/ops/test-probe", headers=with_cookie(token, WRITE))
    assert response.status_code == 200
    assert response.json() == {"written": True, "via": "cookie"}


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
async def test_cookie_write_without_header_or_from_elsewhere_gets_403(http, method, headers):
    token = await sign_in(http)
    response = await http.request(method, "/api/ops/test-probe", headers=with_cookie(token, headers))
    assert response.status_code == 403
    assert response.json()["error"].startswith("a write from the console must")


async def test_same_origin_is_judged_by_the_forwarded_host_and_scheme(http):
    token = await sign_in(http)
    proxied = {"x-forwarded-proto": "https", "x-forwarded-host": "cron.example.com"}
    headers = with_cookie(token, {**proxied, "X-Cronrelay-Request": "1", "Origin": "https://cron.example.com"})
    assert (await http.post("/api/ops/test-probe", headers=headers)).status_code == 200
    headers["Origin"] = BASE
    assert (await http.post("/api/ops/test-probe", headers=headers)).status_code == 403


async def test_a_write_guard_never_passes_on_a_get(http):
    token = await sign_in(http)
    response = await http.get("/api/ops/test-probe/write-on-get", headers=with_cookie(token, WRITE))
    assert response.status_code == 405
    response = await http.get("/api/ops/test-probe/write-on-get", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 405


# -- tokens that must not work ------------------------------------------------------


def _tamper(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def bad_tokens() -> dict[str, str]:
    good = mint_token(SECRET.encode())
    issued = int(good.split(".")[1])
    return {
        "random": "v1.1.2.abc.def",
        "empty-mac": good.rsplit(".", 1)[0] + ".",
        "no-mac": good.rsplit(".", 1)[0],
        "later expiry": _tamper(good, 2, str(issued + 10 * SESSION_SECONDS)),
        "other nonce": _tamper(good, 3, "AAAAAAAAAAAAAAAAAAAAAA"),
        "other version": _tamper(good, 0, "v2"),
        "flipped mac": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "expired": mint_token(SECRET.encode(), now=time.time() - SESSION_SECONDS - 5),
        "from the future": mint_token(SECRET.encode(), now=time.time() + 3600),
        "other secret": mint_token(b"some-other-secret-0123456789"),
        "keyed with the bare secret": _signed_with_raw_secret(),
    }


def _signed_with_raw_secret() -> str:
    import hashlib
    import hmac

    message = f"v1.{int(time.time())}.{int(time.time()) + 60}.nonce"
    mac = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).digest())
    return f"{message}.{mac.rstrip(b'=').decode()}"


@pytest.mark.parametrize("kind", list(bad_tokens()))
async def test_forged_expired_or_tampered_cookie_is_refused(http, kind):
    token = bad_tokens()[kind]
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
    assert (await http.post("/api/ops/test-probe", headers=with_cookie(token, WRITE))).status_code == 401
    assert (await http.get("/api/ops/session", headers=with_cookie(token))).json() == {"signed_in": False}


async def test_a_fresh_cookie_minted_the_same_way_is_accepted(http):
    # The control for the test above: the refusals are about the token, not the harness.
    token = mint_token(SECRET.encode())
    assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200


async def test_rotating_cron_secret_ends_every_session(source):
    async with client_for(source) as http:
        token = await sign_in(http)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200
        # Rotation, step 1: the new secret is announced as NEXT. Sessions live on.
        source.settings = make(cron_secret_next=NEXT)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200
        next_token = mint_token(NEXT.encode())
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(next_token))).status_code == 200
        # Step 2: NEXT becomes CRON_SECRET. Every cookie made with the old one is dead.
        source.settings = make(cron_secret=NEXT)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 401
        assert (await http.get("/api/ops/session", headers=with_cookie(token))).json() == {"signed_in": False}
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(next_token))).status_code == 200


async def test_next_secret_signs_in_while_it_is_configured(source):
    source.settings = make(cron_secret_next=NEXT)
    async with client_for(source) as http:
        response = await http.post("/api/ops/login", json={"secret": NEXT}, headers=ORIGIN)
        assert response.status_code == 200
        token, _ = cookie_attributes(response)
        assert (await http.get("/api/ops/test-probe", headers=with_cookie(token))).status_code == 200
        source.settings = make()  # NEXT withdrawn: the rotation was called off
        response = await http.get("/api/ops/test-probe", headers=with_cookie(token))
        # Sessions are always signed with CRON_SECRET's key, so this one lives on.
        assert response.status_code == 200


# -- the page and its headers ------------------------------------------------------------


PAGES = ["/api/ops", "/api/ops/", "/api/ops/assets/ops.css", "/api/ops/assets/ops.js"]


@pytest.mark.parametrize("path", [*PAGES, "/api/ops/session", "/api/ops/assets/missing.js"])
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
    assert '<script src="/api/ops/assets/ops.js"' in page.text
    assert 'href="/api/ops/assets/ops.css"' in page.text
    css = await http.get("/api/ops/assets/ops.css")
    js = await http.get("/api/ops/assets/ops.js")
    assert css.headers["content-type"].startswith("text/css")
    assert js.headers["content-type"].startswith("text/javascript")
    for text in (page.text, css.text, js.text):
        assert "http://" not in text and "https://" not in text.replace('placeholder="https://example.com/hook"', "")
        assert "//cdn" not in text and "@import" not in text
    # The CSP forbids inline code; the page must not need any.
    assert "<style" not in page.text and " style=" not in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text


async def test_no_secret_is_ever_on_the_page_or_in_an_answer(source):
    source.settings = make(
        cron_secret_next=NEXT, supabase_url="https://x.supabase.test", supabase_service_role_key=SERVICE_KEY
    )
    forbidden = [SECRET, NEXT, BOT_TOKEN, DATABASE_URL, "db-password-9f8e7d", WEBHOOK_KEY, SERVICE_KEY]
    for secret in (SECRET, NEXT):
        key = signing_key(secret.encode())
        forbidden += [key.hex(), base64.urlsafe_b64encode(key).rstrip(b"=").decode(), base64.b64encode(key).decode()]
    async with client_for(source) as http:
        token = await sign_in(http)
        answers = [await http.get(path, headers=with_cookie(token)) for path in PAGES]
        answers.append(await http.get("/api/ops/session", headers=with_cookie(token)))
        answers.append(await http.post("/api/ops/login", json={"secret": SECRET}, headers=ORIGIN))
        answers.append(await http.post("/api/ops/login", json={"secret": NEXT + "x"}, headers=ORIGIN))
        answers.append(await http.post("/api/ops/logout", headers=ORIGIN))
    for response in answers:
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for value in forbidden:
            assert value not in seen, f"{response.request.url} shows a secret"
