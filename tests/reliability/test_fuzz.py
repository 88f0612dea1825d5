"""Fuzzed requests with hypothesis: only the exact secrets pass, and nothing is ever a 5xx.

Hypothesis draws the inputs (derandomized, so CI sees the same ones every
run; more of them under `dev.py test --long`), and each is sent to the real
app in-process (ASGI, the suite's Postgres). The draws are collected first
and sent afterwards, on the test's event loop.

- Authorization: raw bytes, unicode, huge values, repeated headers, the
  secrets with whitespace around or inside them, a changed case, a prefix or
  a suffix, `CRON_SECRET_NEXT`, the secret in the query string or in another
  header. Only `Bearer <CRON_SECRET or CRON_SECRET_NEXT>` in the (first)
  Authorization header passes, the scheme in any case, surrounding
  whitespace ignored.
- Methods, paths and query strings over every route, with and without the
  secret: no 5xx, ever, and every answer is JSON or the console's page.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import asyncpg
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.settings import Settings, load_settings
from tests.conftest import SECRET, app_client
from tests.fakes.telegram import TOKEN
from tests.fakes.webhook import WEBHOOK_SECRET
from tests.reliability.counts import Counts, size, watch

NEXT = "next-secret-fedcba9876543210"
watch(NEXT)
T = TypeVar("T")


def draw(strategy: st.SearchStrategy[T], examples: int) -> list[T]:
    """`examples` values of `strategy`, the same ones on every run."""
    drawn: list[T] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    collect()
    return drawn


def app_settings(pg_dsn: str) -> Settings:
    return load_settings(
        _env_file=None,
        cron_secret=SECRET,
        cron_secret_next=NEXT,
        database_url=pg_dsn,
        telegram_bot_token=TOKEN,
        # Nothing is due in these tests, so nothing is sent; a send would fail to resolve.
        telegram_api_base="https://telegram.invalid",
        webhook_signing_secret=WEBHOOK_SECRET,
    )


# -- Authorization ------------------------------------------------------------------------------

WHITESPACE = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\xa0", "\u2003", ""])
SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "Bearer:", "", "Bearer\t"])


def _mutations(secret: str) -> st.SearchStrategy[str]:
    position = st.integers(0, len(secret) - 1)
    return st.one_of(
        st.just(secret),
        st.just(secret.upper()),
        st.just(secret[:-1]),
        st.just(secret + "x"),
        st.just("x" + secret),
        st.just(secret + secret),
        position.map(lambda i: secret[:i] + secret[i + 1 :]),
        position.map(lambda i: secret[:i] + " " + secret[i:]),
        position.map(lambda i: secret[:i] + "\x00" + secret[i:]),
        st.tuples(position, st.characters()).map(lambda p: secret[: p[0]] + p[1] + secret[p[0] + 1 :]),
    )


SECRETISH = st.sampled_from([SECRET, NEXT]).flatmap(_mutations)
BEARER = st.builds(lambda a, s, b, v, c: f"{a}{s}{b}{v}{c}", WHITESPACE, SCHEMES, WHITESPACE, SECRETISH, WHITESPACE)
VALUE = st.one_of(
    BEARER.map(lambda v: v.encode("utf-8")),
    BEARER.map(lambda v: v.encode("latin-1", errors="replace")),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda v: v.encode("utf-8")),
    st.integers(1_000, 200_000).map(lambda n: b"Bearer " + b"A" * n),
    st.integers(1_000, 50_000).map(lambda n: b"Bearer " + SECRET.encode() * (n // len(SECRET))),
)
# Where the secret goes: Authorization (once or repeated), the query string, or another header.
AUTH_CASE = st.one_of(
    st.lists(VALUE, min_size=1, max_size=3).map(lambda values: ("authorization", values)),
    SECRETISH.map(lambda v: ("query", [v.encode()])),
    st.sampled_from(["x-cron-secret", "x-authorization", "cookie", "proxy-authorization"]).flatmap(
        lambda name: BEARER.map(lambda v: (name, [v.encode("utf-8")]))
    ),
)
_BEARER = re.compile(r"bearer (.*)", re.IGNORECASE | re.DOTALL)


def should_pass(where: str, values: list[bytes]) -> bool:
    """The rule: the first Authorization header is `Bearer <secret>` (any case), whitespace around ignored."""
    if where != "authorization":
        return False
    match = _BEARER.fullmatch(values[0].decode("latin-1").strip())
    return match is not None and match.group(1).strip() in (SECRET, NEXT)


async def test_only_the_exact_secrets_pass(pg_dsn: str, sql: asyncpg.Connection, counts: Counts) -> None:
    cases = draw(AUTH_CASE, size(150, 1500))
    # The exact secrets are always among them, so the test can fail both ways.
    cases += [("authorization", [f"Bearer {SECRET}".encode()]), ("authorization", [f"bearer {NEXT}".encode()])]
    passed = 0
    async with app_client(app_settings(pg_dsn)) as http:
        for where, values in cases:
            if where == "authorization":
                headers = [(b"authorization", value) for value in values]
                response = await http.get("/api/cron/runs", headers=headers)
            elif where == "query":
                response = await http.get("/api/cron/runs", params={"secret": values[0].decode()})
            else:
                response = await http.get("/api/cron/runs", headers=[(where.encode(), values[0])])
            counts.answer(response)
            counts.handled += 1
            expected = should_pass(where, values)
            assert response.status_code == (200 if expected else 401), (where, values[:1], response.text[:200])
            if not expected:
                assert response.json() == {"error": "unauthorized"}
                assert response.headers["www-authenticate"] == "Bearer"
            passed += expected
    counts.notes.append(f"{passed} passed, {len(cases) - passed} refused")
    assert passed >= 2


# -- methods, paths, query strings ----------------------------------------------------------------

ROUTES = [
    "/api/health",
    "/api/cron/runs",
    "/api/cron/check-stale",
    "/api/cron/cleanup-heartbeats",
    "/api/cron/reminders",
    "/api/cron/run-requests",
    "/api/cron/schedule",
    "/api/cron/prune-history",
    "/api/ops",
    "/api/ops/session",
    "/api/ops/status",
    "/api/ops/jobs",
    "/api/ops/runs",
    "/api/ops/requests",
    "/api/ops/assets/app.js",
    "/api",
    "/",
]
SEGMENT = st.one_of(
    st.sampled_from(["", "..", ".", "%2e%2e", "%00", "%ff", "x" * 300, "check-stale", "0", "-1", "9" * 40]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
# Mostly the routes themselves (with or without a trailing slash), so most requests reach a handler.
PATH = st.one_of(
    st.builds(lambda route, slash: route + ("/" if slash else ""), st.sampled_from(ROUTES), st.booleans()),
    st.builds(lambda route, slash: route + ("/" if slash else ""), st.sampled_from(ROUTES), st.booleans()),
    st.builds(
        lambda route, extra: route + "".join("/" + s for s in extra),
        st.sampled_from(ROUTES),
        st.lists(SEGMENT, min_size=1, max_size=2),
    ),
)
QUERY_VALUE = st.one_of(
    st.sampled_from(["", "true", "false", "1", "0", "-1", "yes", "nan", "inf", "1e9", "9" * 30, "null", "[]"]),
    st.text(max_size=30),
)
QUERY: st.SearchStrategy[list[tuple[str, str]]] = st.one_of(
    st.just([]),
    st.lists(st.tuples(st.sampled_from(["dry_run", "limit", "job"]), QUERY_VALUE), max_size=2),
    st.lists(
        st.tuples(st.sampled_from(["dry_run", "limit", "job", "dryrun", "LIMIT", "status", "q", ""]), QUERY_VALUE),
        max_size=3,
    ),
)
METHOD = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
REQUEST = st.tuples(METHOD, PATH, QUERY, st.booleans(), st.sampled_from([b"", b"{}", b"{", b"[1]", b"\xff" * 10]))


async def test_no_method_path_or_query_string_is_ever_a_5xx(
    pg_dsn: str, sql: asyncpg.Connection, counts: Counts
) -> None:
    cases = draw(REQUEST, size(150, 1500))
    statuses: dict[int, int] = {}
    async with app_client(app_settings(pg_dsn)) as http:
        for method, path, query, authorized, body in cases:
            headers: dict[str, Any] = {"authorization": f"Bearer {SECRET}"} if authorized else {}
            if body:
                headers["content-type"] = "application/json"
            params: list[tuple[str, str | int | float | bool | None]] = list(query)
            try:
                request = http.build_request(method, path, params=params, headers=headers, content=body)
            except (httpx.InvalidURL, UnicodeEncodeError):
                continue  # not a request any client could send
            response = await http.send(request)
            counts.answer(response)
            counts.handled += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (method, path, query, response.text[:300])
            assert 300 > response.status_code or response.status_code >= 400, (method, path)  # never a redirect
    counts.notes.append(" ".join(f"{code}x{n}" for code, n in sorted(statuses.items())))
