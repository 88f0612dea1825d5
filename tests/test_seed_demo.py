"""seed-demo, then every job over HTTP the way the local stack's cron runner calls them.

The demo's promise is that every job has something to do within two minutes
of seeding. The minutes are not waited for: "a minute later" is the demo's
own rows moved back in time with SQL (next_run_at, created_at, due_at), and
the routes are called as the cron runner calls them each minute. Telegram is
tests/fakes/telegram.py; the webhook target is the local stack's real echo
endpoint (lib/local/echo.py), served by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from lib.app import create_app
from lib.cli.main import main
from lib.local import stack
from lib.local.demo import EVERY_MINUTE_JOB, ONCE_JOB, database_is_local, seed_demo
from lib.local.echo import ECHO_PATH, EchoLog, mount_echo
from lib.local.telegram_sink import LOCAL_TOKEN
from lib.migrate import vercel_crons
from lib.outbound.webhooks import SIGNATURE_HEADER, signature_header
from lib.settings import Settings, get_settings
from tests.conftest import AUTH, app_client
from tests.databases import scratch_database
from tests.fakes.telegram import FakeTelegram

SIGNING_SECRET = "demo-signing-secret-0123456789"
STALE = ["demo:agent-berlin", "demo:agent-lagos", "demo:agent-lima"]


@asynccontextmanager
async def echo_server(secret: str | None = SIGNING_SECRET) -> AsyncIterator[tuple[str, EchoLog]]:
    """The echo endpoint on a real socket, as the local stack serves it; yields its URL and its log."""
    app = FastAPI()
    calls = mount_echo(app, secret)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the echo server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{ECHO_PATH}", calls
    finally:
        server.should_exit = True
        await serving


async def _seed(pg_dsn: str, echo_url: str, settings: Settings) -> Any:
    return await seed_demo(
        pg_dsn,
        echo_url=echo_url,
        stale_after_seconds=settings.stale_after_seconds,
        retention_days=settings.heartbeat_retention_days,
        history_days=settings.run_history_days,
    )


async def _tick(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """One minute of the cron runner: the every-minute crons, each once."""
    answers = {}
    for job in ("schedule", "reminders", "run-requests"):
        response = await http.get(f"/api/cron/{job}", headers=AUTH)
        assert response.status_code == 200, response.text
        answers[job] = response.json()
        assert answers[job]["status"] == "ok", answers[job]
    return answers


async def _a_minute_passes(sql: asyncpg.Connection) -> None:
    """Move the demo's clock on: the every-minute job's next tick is due now."""
    await sql.execute(
        "update cron_jobs set next_run_at = now() - interval '1 second' where name = $1", EVERY_MINUTE_JOB
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _echoed(calls: EchoLog) -> list[tuple[str, str]]:
    return sorted((call.body["job"], call.signature) for call in calls.calls)


async def test_within_two_minutes_of_seeding_every_job_has_done_its_work(
    pg_dsn: str, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    async with echo_server() as (echo_url, echoed):
        with FakeTelegram() as telegram:
            settings = make_settings(
                webhook_signing_secret=SIGNING_SECRET,
                allow_http_webhooks=True,
                telegram_bot_token=LOCAL_TOKEN,
                telegram_api_base=telegram.url,
            )
            seed = await _seed(pg_dsn, echo_url, settings)
            assert (seed.agents, seed.stale_agents, seed.old_heartbeats, seed.recent_heartbeats) == (4, 3, 120, 12)
            assert (seed.reminders, seed.due_reminders) == (4, 3)
            assert (seed.old_runs, seed.old_requests) == (20, 10)
            assert seed.queued == ["check-stale", "cleanup-heartbeats", "prune-history"] and seed.not_queued == []

            async with app_client(settings) as http:
                # Minute one.
                first = await _tick(http)
                assert first["schedule"]["stats"]["enqueued"] == 1  # the every-minute job; the once job waits
                # A fire runs at once: the schedule call posts the echo itself.
                assert first["schedule"]["stats"]["executed"]["done"] == 1
                assert first["reminders"]["stats"]["delivered"] == 3
                # check-stale, cleanup-heartbeats and prune-history
                assert first["run-requests"]["stats"]["done"] == 3

                offline = await sql.fetch("select name from agents where status = 'offline' order by name")
                assert [row["name"] for row in offline] == STALE
                assert await sql.fetchval("select status from agents where name = 'demo:agent-osaka'") == "online"
                expired = "select count(*) from heartbeats where created_at < now() - interval '30 days'"
                assert await sql.fetchval(expired) == 0
                assert await sql.fetchval("select count(*) from heartbeats") == 12
                runs = {
                    row["job"]: row
                    for row in await sql.fetch(
                        "select job, trigger, status, stats from cron_runs where trigger = 'run-request'"
                    )
                }
                assert runs["check-stale"]["trigger"] == "run-request"
                assert '"marked_offline": 3' in runs["check-stale"]["stats"]
                assert '"deleted": 120' in runs["cleanup-heartbeats"]["stats"]
                assert '"deleted_runs": 20' in runs["prune-history"]["stats"]
                assert '"deleted_requests": 10' in runs["prune-history"]["stats"]
                old_runs = "select count(*) from cron_runs where started_at < now() - interval '30 days'"
                assert await sql.fetchval(old_runs) == 0
                old_requests = "select count(*) from cron_run_requests where requested_at < now() - interval '30 days'"
                assert await sql.fetchval(old_requests) == 0
                assert sorted(call.chat_id for call in telegram.calls) == [1000001, 1000002, 1000003]
                assert all("seed-demo reminder" in call.text for call in telegram.calls)
                assert _echoed(echoed) == [(EVERY_MINUTE_JOB, "valid")]
                assert echoed.calls[0].body["payload"] == {"demo": "every minute"}
                assert SIGNATURE_HEADER.lower() in echoed.calls[0].headers
                fired = await sql.fetchval("select fired_at from cron_jobs where name = $1", ONCE_JOB)
                assert fired is None

                # Minute two: the once job's two minutes are up, and the last reminder is due.
                await _a_minute_passes(sql)
                await sql.execute(
                    "update cron_jobs set created_at = created_at - interval '2 minutes',"
                    " next_run_at = next_run_at - interval '2 minutes' where name = $1",
                    ONCE_JOB,
                )
                await sql.execute("update scheduled_reminders set due_at = now() where lead_id = 'demo:lead-katherine'")
                second = await _tick(http)
                assert second["schedule"]["stats"]["enqueued"] == 2
                assert second["schedule"]["stats"]["completed_once"] == 1
                assert second["schedule"]["stats"]["executed"]["done"] == 2
                assert second["reminders"]["stats"]["delivered"] == 1
                assert second["run-requests"]["stats"]["claimed"] == 0
                assert _echoed(echoed) == [
                    (EVERY_MINUTE_JOB, "valid"),
                    (EVERY_MINUTE_JOB, "valid"),
                    (ONCE_JOB, "valid"),
                ]

                # Minute three: the every-minute job again; the once job never again.
                await _a_minute_passes(sql)
                third = await _tick(http)
                assert third["schedule"]["stats"]["enqueued"] == 1
                assert third["schedule"]["stats"]["executed"]["done"] == 1
                assert third["run-requests"]["stats"]["claimed"] == 0
                assert [job for job, _ in _echoed(echoed)].count(ONCE_JOB) == 1
                assert [job for job, _ in _echoed(echoed)].count(EVERY_MINUTE_JOB) == 3

            # Every request the demo made is done, none failed or waiting.
            statuses = await sql.fetch("select status, count(*) from cron_run_requests group by status")
            assert {row["status"]: row["count"] for row in statuses} == {"done": 7}


async def test_seeding_twice_adds_nothing_and_rearms_the_demo(pg_dsn: str, sql: asyncpg.Connection) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    async def counts() -> dict[str, int]:
        row = await sql.fetchrow(
            """select (select count(*) from agents) as agents,
                      (select count(*) from heartbeats) as heartbeats,
                      (select count(*) from scheduled_reminders) as reminders,
                      (select count(*) from cron_jobs where name like 'demo:%') as jobs,
                      (select count(*) from cron_runs) as runs,
                      (select count(*) from cron_run_requests) as requests,
                      (select count(*) from cron_run_requests where status = 'queued') as queued"""
        )
        assert row is not None
        return dict(row)

    await _seed(pg_dsn, "http://127.0.0.1:3000/local/echo", settings)
    once = await counts()
    assert once == {"agents": 4, "heartbeats": 132, "reminders": 4, "jobs": 2, "runs": 20, "requests": 13, "queued": 3}

    # The demo ran (agents offline, a reminder sent, the once job fired), then is seeded again.
    await sql.execute("update agents set status = 'offline', went_offline_at = now()")
    await sql.execute("update scheduled_reminders set status = 'exhausted', reminder_count = 3")
    await sql.execute("update cron_jobs set fired_at = now() where name = $1", ONCE_JOB)
    await _seed(pg_dsn, "http://127.0.0.1:3000/local/echo", settings)

    assert await counts() == once
    assert await sql.fetchval("select count(*) from agents where status = 'online'") == 4
    assert await sql.fetchval("select count(*) from scheduled_reminders where status = 'pending'") == 4
    job = await sql.fetchrow(
        "select fired_at, next_run_at - created_at as wait from cron_jobs where name = $1", ONCE_JOB
    )
    assert job is not None and job["fired_at"] is None and job["wait"].total_seconds() == 120


async def test_a_paused_builtin_job_is_not_queued_and_the_summary_says_so(pg_dsn: str, sql: asyncpg.Connection) -> None:
    await sql.execute("update cron_jobs set enabled = false where name = 'check-stale'")
    seed = await _seed(pg_dsn, "http://127.0.0.1:3000/local/echo", Settings(_env_file=None))  # type: ignore[call-arg]
    assert seed.queued == ["cleanup-heartbeats", "prune-history"] and seed.not_queued == ["check-stale"]


# -- the command ----------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "PGHOST"):
        monkeypatch.delenv(name, raising=False)
    # As if a local stack on port 4321 were up.
    app_url = tmp_path / "app_url"
    app_url.write_text("http://127.0.0.1:4321")
    monkeypatch.setattr(stack, "APP_URL_FILE", app_url)
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_the_command_seeds_the_local_database_and_says_what_to_watch(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_truncate(pg_dsn))
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    try:
        assert main(["seed-demo"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert out.startswith("seed-demo: the local database is ready for the demo")
    assert "http://127.0.0.1:4321/local/echo" in out and "http://127.0.0.1:4321/api/ops" in out
    assert "3 of them silent too long" in out and "120 older than 30 days" in out
    assert "check-stale, cleanup-heartbeats and prune-history: run by the next drain" in out

    targets = asyncio.run(_fetch(pg_dsn, "select distinct target from cron_jobs where name like 'demo:%'"))
    assert targets == [("http://127.0.0.1:4321/local/echo",)]


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://postgres:hunter2-very-secret@db.abcdefghij.supabase.co:5432/postgres",
        "postgresql://postgres.abcdefghij:hunter2-very-secret@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
        "postgresql://postgres:hunter2-very-secret@127.0.0.1:5432,db.internal:5432/postgres",
        "postgresql://postgres:hunter2-very-secret@/postgres?host=db.internal",
    ],
)
def test_a_database_elsewhere_is_refused_without_force(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", dsn)
    try:
        # 4 is the refusal; an attempt to connect would have ended in 3.
        assert main(["seed-demo"]) == 4
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("seed-demo refused: DATABASE_URL does not point at this machine")
    assert "127.0.0.1, localhost, ::1 or a Unix socket" in err and "--force" in err
    assert "hunter2" not in err and "supabase" not in err and "internal" not in err


@pytest.mark.usefixtures("cli_env")
def test_without_a_database_url_it_says_to_start_the_local_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    try:
        assert main(["seed-demo"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "DATABASE_URL is not set" in err and "python3 dev.py local" in err


def test_an_unreachable_database_is_exit_3_naming_neither_host_nor_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres:hunter2-very-secret@127.0.0.1:{port}/postgres")
    try:
        assert main(["seed-demo"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err == "database error: seed-demo could not reach the database (OperationalError)\n"


def test_a_database_without_the_tables_says_to_migrate(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", asyncio.run(scratch_database(pg_dsn, "demo_empty")))
    try:
        assert main(["seed-demo"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err == "seed-demo: the database has no cronrelay tables yet: run `python3 dev.py cli migrate`\n"


@pytest.mark.parametrize(
    ("dsn", "local"),
    [
        ("postgresql://u:p@127.0.0.1:5432/db", True),
        ("postgresql://u:p@localhost/db", True),
        ("postgres://u:p@[::1]:5432/db", True),
        ("postgresql:///db", True),  # the default Unix socket
        ("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db", True),
        ("postgresql://u@/db?host=/tmp", True),
        ("postgresql://u:p@LOCALHOST:5432/db", True),
        ("postgresql://u:p@db.example.com/db", False),
        ("postgresql://u:p@127.0.0.2/db", False),
        ("postgresql://u:p@localhost.example.com/db", False),
        ("postgresql://u:p@localhost,10.0.0.5/db", False),
    ],
)
def test_the_local_rule(dsn: str, local: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    assert database_is_local(dsn) is local


def test_pghost_counts_when_the_url_names_no_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.example.com")
    assert not database_is_local("postgresql:///db")


# -- the echo endpoint ------------------------------------------------------------


async def test_the_echo_records_each_call_checks_its_signature_and_prints_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = FastAPI()
    calls = mount_echo(app, SIGNING_SECRET)
    body = b'{"job":"demo:x","request_id":"0f3c9a1e-aaaa","payload":{"n":1}}'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as http:
        signed = await http.post(
            ECHO_PATH, content=body, headers={SIGNATURE_HEADER: signature_header(SIGNING_SECRET, body)}
        )
        forged = await http.post(ECHO_PATH, content=body, headers={SIGNATURE_HEADER: signature_header("wrong", body)})
        unsigned = await http.post(ECHO_PATH, content=b"plain text", headers={"authorization": "Bearer x"})
        listed = await http.get(ECHO_PATH)

    assert [r.status_code for r in (signed, forged, unsigned)] == [200, 200, 200]
    assert signed.json()["received"]["body"] == {"job": "demo:x", "request_id": "0f3c9a1e-aaaa", "payload": {"n": 1}}
    assert [call.signature for call in calls.calls] == ["valid", "invalid", "missing"]
    assert "authorization" not in unsigned.json()["received"]["headers"]
    assert [call["signature"] for call in listed.json()["calls"]] == ["missing", "invalid", "valid"]
    lines = [_unstamped(line) for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        'local echo: POST demo:x (request 0f3c9a1e, payload {"n": 1}), signature valid',
        'local echo: POST demo:x (request 0f3c9a1e, payload {"n": 1}), signature invalid',
        "local echo: POST 10 bytes, signature missing",
    ]


async def test_the_local_stack_serves_the_echo_and_the_deployed_app_does_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", SIGNING_SECRET)
    body = b'{"job":"demo:x","request_id":"1","payload":{}}'
    headers = {SIGNATURE_HEADER: signature_header(SIGNING_SECRET, body)}
    for app, expected in ((stack.local_app(), 200), (create_app(), 404)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as http:
            response = await http.post(ECHO_PATH, content=body, headers=headers)
        assert response.status_code == expected, response.text
    # One line per call, after its timestamp (every line the stack prints starts with one).
    printed = capsys.readouterr().err.splitlines()
    assert [_unstamped(line) for line in printed] == [
        "local echo: POST demo:x (request 1, payload {}), signature valid"
    ], printed


def _unstamped(line: str) -> str:
    """The line after its timestamp; a line without one is left as it is, so the comparison fails."""
    return re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ ", "", line)


# -- helpers --------------------------------------------------------------------


async def _truncate(dsn: str) -> None:
    from tests.conftest import TABLES

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"truncate {TABLES} restart identity cascade")
        for job, schedule in vercel_crons():
            await connection.execute("select public.upsert_builtin_job($1, $2)", job, schedule)
    finally:
        await connection.close()


async def _fetch(dsn: str, query: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()
