"""`python -m lib doctor --url <app>`: every check passes on a good deployment, and each
fault (a wrong secret, a stopped database, an unapplied migration, an overdue job)
fails with a line of its own that carries the fix."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from lib.app import create_app
from lib.cli.doctor import Check, check_migrations, diagnose, summary
from lib.migrate import migrate
from lib.settings import Settings, load_settings
from tests.conftest import SECRET
from tests.databases import scratch_database

URL = "http://testserver"


def _transport(settings: Settings) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(lambda: settings))


def _settings(dsn: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"_env_file": None, "cron_secret": SECRET, "database_url": dsn, **overrides}
    return load_settings(**values)


def _failed(lines: list[Check]) -> dict[str, Check]:
    return {line.name: line for line in lines if line.outcome == "FAIL"}


@pytest.fixture
async def fresh_dsn(pg_dsn: str) -> str:
    dsn = await scratch_database(pg_dsn, "doctor")
    await migrate(dsn)
    return dsn


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_good_deployment_passes_every_check(fresh_dsn: str) -> None:
    settings = _settings(fresh_dsn)
    lines = await diagnose(URL, settings, transport=_transport(settings))
    assert _failed(lines) == {}, [line.line() for line in lines]
    names = [line.name for line in lines]
    assert names[:4] == ["health", "secret", "database", "migrations"]
    assert "job check-stale" in names and "job run-requests" in names
    assert summary(lines).startswith("doctor: every check passed")
    assert all(SECRET not in line.line() and fresh_dsn not in line.line() for line in lines)


async def test_a_wrong_secret_fails_the_secret_line_alone(fresh_dsn: str) -> None:
    app_settings = _settings(fresh_dsn)
    mine = _settings(fresh_dsn, cron_secret="not-the-deployments-secret")
    lines = await diagnose(URL, mine, transport=_transport(app_settings))
    failed = _failed(lines)
    assert list(failed) == ["secret"], [line.line() for line in lines]
    assert "refused this CRON_SECRET (HTTP 401)" in failed["secret"].detail
    assert "same CRON_SECRET" in failed["secret"].fix
    assert "not-the-deployments-secret" not in failed["secret"].line()
    assert summary(lines).startswith("doctor: 1 of ")


async def test_a_stopped_database_fails_the_database_line(fresh_dsn: str) -> None:
    stopped = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    app_settings = _settings(stopped)
    lines = await diagnose(URL, _settings(fresh_dsn), transport=_transport(app_settings))
    failed = _failed(lines)
    assert "database" in failed, [line.line() for line in lines]
    assert failed["database"].detail.startswith("the app cannot use its database (unreachable")
    assert "database is up" in failed["database"].fix
    # Its own line: this shell's database (the fresh one) is fine, so migrations and jobs pass.
    assert "migrations" not in failed and not [name for name in failed if name.startswith("job ")]


async def test_an_unreachable_database_fails_the_migrations_line_by_class_only() -> None:
    settings = _settings(f"postgresql://postgres:hunter2-password@127.0.0.1:{_closed_port()}/postgres")
    line = await check_migrations(settings)
    assert (line.outcome, line.detail) == ("FAIL", "could not connect to DATABASE_URL (OperationalError)")
    assert "check DATABASE_URL here" in line.fix


async def test_unreadable_migration_records_fail_with_the_servers_message(pg_dsn: str) -> None:
    dsn = await scratch_database(pg_dsn, "doctor_half")
    connection = await asyncpg.connect(dsn)
    try:
        # What half a bookkeeping leaves: the repeatables' table without the versions' one.
        await connection.execute("create table public.schema_repeatables (name text primary key, checksum text)")
    finally:
        await connection.close()
    line = await check_migrations(_settings(dsn))
    assert line.outcome == "FAIL"
    assert line.detail == 'could not read the migration records (relation "public.schema_migrations" does not exist)'


async def test_an_unapplied_migration_fails_the_migrations_line(fresh_dsn: str) -> None:
    connection = await asyncpg.connect(fresh_dsn)
    try:
        await connection.execute("delete from schema_migrations where version = '0003_alerts'")
    finally:
        await connection.close()
    settings = _settings(fresh_dsn)
    lines = await diagnose(URL, settings, transport=_transport(settings))
    failed = _failed(lines)
    assert list(failed) == ["migrations"], [line.line() for line in lines]
    assert failed["migrations"].detail == "not current: 0003_alerts not applied"
    assert "python -m lib migrate" in failed["migrations"].fix and "session pooler" in failed["migrations"].fix


async def test_an_overdue_job_fails_its_own_line(
    make_settings: Callable[..., Settings], sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    """Through both adapters: the jobs are read over the port."""
    await sql.execute(
        "update cron_jobs set created_at = now() - interval '2 hours', last_run_at = now() - interval '1 hour',"
        " last_status = 'ok' where name = 'run-requests'"
    )
    settings = make_settings()
    lines = await diagnose(URL, settings, transport=_transport(settings))
    failed = _failed(lines)
    assert list(failed) == ["job run-requests"], [line.line() for line in lines]
    assert failed["job run-requests"].detail.startswith("overdue: last run ")
    assert "every minute" in failed["job run-requests"].detail
    assert "Supabase Cron" in failed["job run-requests"].fix


async def test_a_failed_last_run_fails_its_job_line(fresh_dsn: str) -> None:
    connection = await asyncpg.connect(fresh_dsn)
    try:
        await connection.execute(
            "update cron_jobs set last_run_at = now(), last_status = 'error' where name = 'check-stale'"
        )
    finally:
        await connection.close()
    settings = _settings(fresh_dsn)
    lines = await diagnose(URL, settings, transport=_transport(settings))
    failed = _failed(lines)
    assert list(failed) == ["job check-stale"], [line.line() for line in lines]
    assert "python -m lib runs --job check-stale" in failed["job check-stale"].fix


async def test_a_short_cron_secret_in_the_deployment_is_named(fresh_dsn: str) -> None:
    app_settings = _settings(fresh_dsn, cron_secret="short")
    lines = await diagnose(URL, _settings(fresh_dsn), transport=_transport(app_settings))
    failed = _failed(lines)
    assert failed["health"].detail.startswith("HTTP 503: CRON_SECRET is shorter than 16 characters")
    assert "python -m lib secrets" in failed["health"].fix


async def test_a_login_page_names_deployment_protection(fresh_dsn: str) -> None:
    def protected(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, html="<html>Authentication Required</html>")

    lines = await diagnose(URL, _settings(fresh_dsn), transport=httpx.MockTransport(protected))
    failed = _failed(lines)
    assert "Deployment Protection" in failed["health"].fix and "Deployment Protection" in failed["secret"].fix


async def test_alerts_sends_a_test_event(fresh_dsn: str, http_mock: respx.MockRouter) -> None:
    hook = http_mock.post("https://alerts.example.com/hook").mock(return_value=httpx.Response(204))
    settings = _settings(fresh_dsn, alert_webhook_url="https://alerts.example.com/hook")
    lines = await diagnose(URL, settings, alerts=True, transport=_transport(settings))
    assert hook.call_count == 1 and b'"event":"alert.test"' in hook.calls[0].request.content
    assert [line.outcome for line in lines if line.name.startswith("alerts")] == ["ok"]

    hook.mock(return_value=httpx.Response(500))
    lines = await diagnose(URL, settings, alerts=True, transport=_transport(settings))
    assert _failed(lines)["alerts ALERT_WEBHOOK_URL"].detail == "alert webhook answered HTTP 500"


def test_secrets_prints_two_fresh_long_secrets() -> None:
    import subprocess
    import sys

    from tests.test_local_stack import ROOT

    def run() -> dict[str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "lib", "secrets"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and done.stderr == "", done
        return dict(line.split("=", 1) for line in done.stdout.splitlines())

    first, second = run(), run()
    assert list(first) == ["CRON_SECRET", "WEBHOOK_SIGNING_SECRET"]
    assert all(len(value) >= 40 and value.replace("-", "").replace("_", "").isalnum() for value in first.values())
    assert first["CRON_SECRET"] != first["WEBHOOK_SIGNING_SECRET"] and first != second
    assert load_settings(_env_file=None, cron_secret=first["CRON_SECRET"]).cron_secrets() == [first["CRON_SECRET"]]


async def test_the_protection_bypass_secret_is_sent_when_set(fresh_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def protected(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-vercel-protection-bypass"))
        return httpx.Response(401, html="<html>Authentication Required</html>")

    monkeypatch.setenv("VERCEL_AUTOMATION_BYPASS_SECRET", "bypass-0123456789")
    lines = await diagnose(URL, _settings(fresh_dsn), transport=httpx.MockTransport(protected))
    assert seen and set(seen) == {"bypass-0123456789"}
    assert all("bypass-0123456789" not in line.line() for line in lines)
