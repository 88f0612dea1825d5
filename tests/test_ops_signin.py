"""Sign-in throttling, counted in the database: per client address and per account, across instances.

After 10 failures from one address, or 20 for one account, within 15 minutes,
sign-in answers 429 with Retry-After whatever the password, until the window
passes. Time is moved in the database (the failures' timestamps), never
waited for. The last test runs two app processes (uvicorn) on one database:
serverless instances share nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from lib.settings import Settings
from tests.conftest import SECRET, app_client
from tests.ops_people import PASSWORD, add_operator, cookie_of
from tests.reliability.app_process import app_env, app_process

WRONG = "not the password, sorry"
WINDOW_SECONDS = 15 * 60


@pytest.fixture
async def http(settings: Settings, db: object) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as client:
        yield client


@pytest.fixture
async def alice(sql: asyncpg.Connection) -> str:
    await add_operator(sql, "alice", "admin")
    return "alice"


async def attempt(http: httpx.AsyncClient, user: str, password: str, **headers: str) -> httpx.Response:
    return await http.post("/api/ops/login", json={"user": user, "password": password}, headers=headers)


async def pass_the_window(sql: asyncpg.Connection) -> None:
    """Moves every recorded failure 15 minutes into the past: the window has passed."""
    await sql.execute(
        f"update public.ops_signin_failures set failed_at = failed_at - interval '{WINDOW_SECONDS} seconds'"
    )


def assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert "set-cookie" not in response.headers
    wait = int(response.headers["retry-after"])
    assert 0 < wait <= WINDOW_SECONDS
    assert response.json()["error"].startswith("too many failed sign-ins")
    return wait


async def test_the_11th_attempt_from_one_address_is_429_even_with_the_right_password(http, sql, alice):
    for _ in range(10):
        assert (await attempt(http, alice, WRONG)).status_code == 401
    assert_throttled(await attempt(http, alice, PASSWORD))
    # The cron secret, another account, an unknown one: the address is throttled, whatever is presented.
    assert_throttled(await http.post("/api/ops/login", json={"secret": SECRET}))
    assert_throttled(await attempt(http, "someone-else", PASSWORD))
    assert await sql.fetchval("select count(*) from public.ops_sessions") == 0
    # Waiting while throttled records nothing more: once the window passes, the right password works.
    await pass_the_window(sql)
    response = await attempt(http, alice, PASSWORD)
    assert response.status_code == 200, response.text
    assert cookie_of(response)


async def test_retry_after_counts_down_to_when_the_oldest_failure_leaves_the_window(http, sql, alice):
    for _ in range(10):
        await attempt(http, alice, WRONG)
    await sql.execute(
        "update public.ops_signin_failures set failed_at = now() - interval '14 minutes' "
        "where id = (select min(id) from public.ops_signin_failures)"
    )
    wait = assert_throttled(await attempt(http, alice, PASSWORD))
    assert 50 <= wait <= 61
    # That oldest failure leaves the window: nine remain, and the next attempt is heard.
    await sql.execute(
        "update public.ops_signin_failures set failed_at = now() - interval '16 minutes' "
        "where id = (select min(id) from public.ops_signin_failures)"
    )
    assert (await attempt(http, alice, PASSWORD)).status_code == 200


async def test_a_success_neither_counts_nor_clears_the_failures(http, alice):
    for _ in range(9):
        assert (await attempt(http, alice, WRONG)).status_code == 401
    assert (await attempt(http, alice, PASSWORD)).status_code == 200
    assert (await attempt(http, alice, WRONG)).status_code == 401
    assert_throttled(await attempt(http, alice, PASSWORD))


async def test_twenty_failures_for_one_account_from_many_addresses_throttle_that_account(
    make_settings: Callable[..., Settings], sql, db, alice
):
    # On Vercel the address is the x-real-ip Vercel sets.
    async with app_client(make_settings(vercel=True)) as http:
        for number in range(20):
            response = await attempt(http, alice, WRONG, **{"x-real-ip": f"198.51.100.{number}"})
            assert response.status_code == 401, number
        assert_throttled(await attempt(http, alice, PASSWORD, **{"x-real-ip": "203.0.113.7"}))
        # Account names are counted case-insensitively.
        assert_throttled(await attempt(http, "ALICE", PASSWORD, **{"x-real-ip": "203.0.113.8"}))
        # Another account from a fresh address is not held up.
        await add_operator(sql, "bob", "viewer")
        assert (await attempt(http, "bob", PASSWORD, **{"x-real-ip": "203.0.113.9"})).status_code == 200


async def test_x_real_ip_is_not_trusted_off_vercel(http, alice):
    for number in range(10):
        response = await attempt(http, alice, WRONG, **{"x-real-ip": f"198.51.100.{number}"})
        assert response.status_code == 401
    assert_throttled(await attempt(http, alice, PASSWORD, **{"x-real-ip": "203.0.113.7"}))


async def test_a_burst_of_concurrent_guesses_cannot_slip_past_the_limit(http, sql, alice):
    answers = await asyncio.gather(*(attempt(http, alice, WRONG) for _ in range(30)))
    statuses = sorted(response.status_code for response in answers)
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 20, statuses
    assert await sql.fetchval("select count(*) from public.ops_signin_failures") == 10


async def test_wrong_secrets_are_throttled_too(http):
    # Before operators existed, 2,000 wrong secrets went by in 2.65 s without a 429.
    for _ in range(10):
        assert (await http.post("/api/ops/login", json={"secret": "wrong-secret-0123456789abc"})).status_code == 401
    assert_throttled(await http.post("/api/ops/login", json={"secret": SECRET}))


async def test_throttling_holds_across_two_app_processes_on_one_database(pg_dsn, sql, alice, tmp_path: Path):
    """Serverless instances share only the database: failures at one count at the other."""
    env = app_env(cron_secret=SECRET, database_url=pg_dsn)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        app_process(env, tmp_path / "a") as first,
        app_process(env, tmp_path / "b") as second,
        httpx.AsyncClient(base_url=first.url, timeout=30) as one,
        httpx.AsyncClient(base_url=second.url, timeout=30) as two,
    ):
        attempts_before_429 = 0
        for number in range(10):
            response = await attempt(one if number % 2 else two, alice, WRONG)
            assert response.status_code == 401, response.text
            attempts_before_429 += 1
        for instance in (one, two):
            assert_throttled(await attempt(instance, alice, PASSWORD))
        await pass_the_window(sql)
        response = await attempt(two, alice, PASSWORD)
        assert response.status_code == 200, response.text
        # The session opened at one instance is honoured by the other.
        token = cookie_of(response)
        session = await one.get("/api/ops/session", headers={"Cookie": f"cronrelay_ops={token}"})
        assert session.json()["user"] == "alice"
        print(f"\nsign-in attempts before 429 (one address, two instances): {attempts_before_429}")
    assert attempts_before_429 == 10
