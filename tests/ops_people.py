"""Operators for tests: rows with cheap password hashes (the cost is stored in each hash), and signing in over HTTP."""

from __future__ import annotations

import asyncpg
import httpx

from lib.manage.passwords import hash_password
from lib.ops.session import COOKIE_NAME

PASSWORD = "correct horse battery staple"
# The console's own origin under httpx's ASGI transport (base_url http://testserver).
BASE = "http://testserver"
ORIGIN = {"Origin": BASE}
WRITE = {"X-Cronrelay-Request": "1", "Origin": BASE}


async def add_operator(
    sql: asyncpg.Connection, name: str, role: str, password: str = PASSWORD, *, disabled: bool = False
) -> str:
    """An ops_users row; its hash is scrypt at N=16, so signing in costs no real time in tests."""
    return str(
        await sql.fetchval(
            "insert into public.ops_users (name, role, password_hash, disabled) values ($1, $2, $3, $4) returning id",
            name,
            role,
            hash_password(password, n=16),
            disabled,
        )
    )


def cookie_of(response: httpx.Response) -> str:
    """The session id the answer's Set-Cookie carries."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == COOKIE_NAME:
            return rest.split(";")[0]
    raise AssertionError(f"no {COOKIE_NAME} cookie in the answer")


async def sign_in(http: httpx.AsyncClient, user: str, password: str = PASSWORD) -> str:
    """A fresh session id; the client's jar is emptied, so each request shows only what the test sends."""
    response = await http.post("/api/ops/login", json={"user": user, "password": password})
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return cookie_of(response)


async def sign_in_with_secret(http: httpx.AsyncClient, secret: str) -> str:
    response = await http.post("/api/ops/login", json={"secret": secret})
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return cookie_of(response)


def with_cookie(token: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={token}", **(extra or {})}
