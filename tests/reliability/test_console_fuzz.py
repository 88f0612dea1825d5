"""Fuzzed bodies, depths, sizes, unicode and numbers at every console API route: never a 5xx.

Hypothesis draws the requests (derandomized; more under `dev.py test --long`):
JSON bodies of every shape (nested up to 400 levels, up to 100 KB, lone
surrogates, NaN and Infinity, huge integers and floats, unknown and known
field names with wrong values), raw bytes that are not JSON, and query
strings, sent to every route of the console's API with the bearer secret, so
each one reaches validation. Every answer must be below 500, JSON, and an
error must be `{"error": "<one line>"}`; afterwards every list still answers.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
from hypothesis import strategies as st

from tests.conftest import SECRET, app_client
from tests.factories import add_job, add_request
from tests.reliability.counts import Counts, size
from tests.reliability.test_fuzz import app_settings, draw

AUTH = {"authorization": f"Bearer {SECRET}"}
FIELDS = [
    "project_id", "name", "kind", "target", "payload", "schedule_type", "schedule", "timezone", "enabled",
    "version", "job_id", "status", "since", "until", "dry_run", "project", "secret", "user", "password",
]  # fmt: skip

TEXT = st.text(st.characters(codec=None), max_size=40)  # lone surrogates included
NUMBER = st.one_of(
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 0.1, -0.0]),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSONISH = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4))
FIELD_VALUE = st.one_of(
    JSONISH,
    st.sampled_from(
        [
            "0 25 * * *", "every 99999999999999999999d", "in 9999999999d", "9999-12-31T23:59:59-14:00",
            "https://169.254.169.254/", "https://2130706433/", "https://u:p@x.test/", "http://10.0.0.1/",
            "Mars/Olympus", "cron", "interval", "once", "manual", "builtin", "webhook", "queued", "error",
            "2026-12-01T00:00:00Z", "0001-01-01T00:00:00", "-1", "\x00", "\ud800",
        ]
    ),
)  # fmt: skip


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for index in range(depth):
        value = {"a": value} if index % 2 else [value]
    return value


BODY_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUE, max_size=5),
    st.dictionaries(st.sampled_from(FIELDS), st.builds(nested, st.integers(1, 400), SCALAR), min_size=1, max_size=2),
    st.builds(lambda n, field: {field: "x" * n}, st.integers(1_000, 100_000), st.sampled_from(FIELDS)),
    JSONISH,
)


def encode(value: Any) -> bytes:
    # Python's json writes NaN, Infinity and \\ud800 escapes: what a careless or hostile client sends.
    return json.dumps(value).encode()


BODY = st.one_of(
    BODY_VALUE.map(encode),
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"[]", b"null", b'{"a":1,"a":2}', b"\xff\xfe", b'{"payload": ' + b"[" * 5000]),
)
QUERY = st.lists(
    st.tuples(st.sampled_from(["limit", "offset", "filter", "q", "project", "job_id", "status", "job"]), TEXT),
    max_size=3,
)


def routes(job: str, request: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/ops/jobs"),
        ("PATCH", f"/api/ops/jobs/{job}"),
        ("POST", f"/api/ops/jobs/{job}/run"),
        ("POST", f"/api/ops/jobs/{job}/pause"),
        ("POST", f"/api/ops/requests/{request}/retry"),
        ("POST", f"/api/ops/requests/{request}/cancel"),
        ("POST", "/api/ops/requests/retry"),
        ("POST", "/api/ops/requests/cancel"),
        ("POST", "/api/ops/login"),
        ("GET", "/api/ops/jobs"),
        ("GET", "/api/ops/requests"),
        ("GET", "/api/ops/runs"),
        ("GET", f"/api/ops/jobs/{job}"),
        ("GET", f"/api/ops/requests/{request}"),
    ]


def check_answer(response: httpx.Response, what: Any) -> None:
    assert response.status_code < 500, (what, response.text[:300])
    assert response.headers.get("content-type", "").startswith("application/json"), (what, response.text[:300])
    if response.status_code >= 400:
        error = response.json().get("error")
        assert isinstance(error, str) and error and "\n" not in error, (what, response.text[:300])


async def test_no_body_depth_size_unicode_or_number_is_ever_a_5xx(
    pg_dsn: str, sql: asyncpg.Connection, counts: Counts
) -> None:
    job = await add_job(sql, "fuzzed", schedule_type="interval", schedule="every 2h")
    request = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'error' where id = $1::uuid", request)
    table = routes(job, request)
    cases = draw(st.tuples(st.integers(0, len(table) - 1), BODY, QUERY), size(300, 3000))
    statuses: dict[int, int] = {}
    async with app_client(app_settings(pg_dsn)) as http:
        for index, body, query in cases:
            method, path = table[index]
            headers = {**AUTH, "content-type": "application/json"}
            params: list[tuple[str, str | int | float | bool | None]] = list(query)
            response = await http.request(method, path, params=params, content=body, headers=headers)
            counts.answer(response)
            counts.handled += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            check_answer(response, (method, path, query, body[:200]))
        # Lists intact afterwards: whatever the fuzz wrote, every list still answers.
        for path in ("/api/ops/jobs", "/api/ops/requests", "/api/ops/runs", f"/api/ops/jobs/{job}"):
            after = await http.get(path, headers=AUTH)
            counts.answer(after)
            assert after.status_code == 200, (path, after.text[:300])
    counts.notes.append(f"{len(cases)} fuzzed requests: " + " ".join(f"{c}x{n}" for c, n in sorted(statuses.items())))
    # The fuzz reached the handlers, not only the guards: some went through, some were refused.
    assert statuses.get(422, 0) > 0 and sum(n for code, n in statuses.items() if code < 300) > 0
