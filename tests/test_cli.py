"""The operator CLI: `python -m lib request | runs | requests`, against the real database."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from lib.cli.main import main
from lib.cli.tables import Column, cell, render
from lib.settings import get_settings
from tests.cli_run import cli
from tests.databases import scratch_database


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The CLI reads its settings from the environment: DATABASE_URL only, and no developer .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "RUN_TIME_BUDGET_SECONDS", "LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_request_queues_a_run_and_prints_its_id(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "request", "check-stale", "--payload", '{"reason": "manual check"}')

    assert code == 0
    printed = json.loads(out)
    assert printed["job"] == "check-stale" and printed["status"] == "queued"
    row = await sql.fetchrow("select * from cron_run_requests where id = $1::uuid", printed["id"])
    assert row["requested_by"] == "cli" and json.loads(row["payload"]) == {"reason": "manual check"}


async def test_request_in_another_project(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await sql.execute(
        "insert into cron_jobs (project_id, name, kind, target) values ('acme', 'sync', 'webhook', 'https://x.test')"
    )
    code, out, _ = await cli(capsys, "request", "sync", "--project", "acme")
    assert code == 0 and json.loads(out)["project_id"] == "acme"


async def test_request_for_an_unknown_job_says_so(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cli(capsys, "request", "no-such-job")
    assert code == 3 and out == ""
    assert "unknown job 'no-such-job' in project 'default'" in err
    assert await sql.fetchval("select count(*) from cron_run_requests") == 0


@pytest.mark.parametrize("payload", ["[1, 2]", "not json", '"text"'])
async def test_request_payload_must_be_a_json_object(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str], payload: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        await cli(capsys, "request", "check-stale", "--payload", payload)
    assert exited.value.code == 2
    assert "--payload" in capsys.readouterr().err


async def test_runs_prints_the_ledger_as_a_table(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await cli(capsys, "run", "check-stale"))[0] == 0
    assert (await cli(capsys, "run", "cleanup-heartbeats"))[0] == 0

    code, out, _ = await cli(capsys, "runs")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["id", "job", "trigger", "status", "started", "ms", "more", "stats", "/", "error"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 4  # header, rule, two runs, newest first
    assert lines[2].split()[1:4] == ["cleanup-heartbeats", "cli", "ok"]
    assert lines[3].split()[1:4] == ["check-stale", "cli", "ok"]
    assert '{"marked_offline":0}' in lines[3]

    code, out, _ = await cli(capsys, "runs", "--job", "check-stale", "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 3 and "cleanup-heartbeats" not in out


async def test_runs_with_nothing_to_show(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "runs", "--job", "reminders")
    assert code == 0 and out.strip() == "(none)"


async def test_requests_prints_run_requests_filtered_by_status(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    queued = json.loads((await cli(capsys, "request", "check-stale"))[1])["id"]
    failed = json.loads((await cli(capsys, "request", "cleanup-heartbeats"))[1])["id"]
    await sql.execute(
        "update cron_run_requests set status = 'error', attempts = 1, completed_at = now(), "
        """result = '{"error": "webhook answered HTTP 404"}' where id = $1::uuid""",
        failed,
    )

    code, out, _ = await cli(capsys, "requests")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header[:5] == ["id", "job", "status", "tries", "requested"]
    assert queued in out and failed in out
    failed_line = next(line for line in out.splitlines() if failed in line)
    assert "error" in failed_line and "1/5" in failed_line and "webhook answered HTTP 404" in failed_line

    code, out, _ = await cli(capsys, "requests", "--status", "queued", "--limit", "10")
    assert code == 0 and queued in out and failed not in out
    assert "0/5" in next(line for line in out.splitlines() if queued in line)

    with pytest.raises(SystemExit):
        await cli(capsys, "requests", "--status", "finished")


async def test_cli_without_a_database_is_a_configuration_error(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    get_settings.cache_clear()
    code, _, err = await cli(capsys, "requests")
    assert code == 2 and "database is not configured" in err


async def test_migrate_names_the_failing_file_in_one_line(
    cli_env: None, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = await scratch_database(pg_dsn, "cli_taken")
    connection = await asyncpg.connect(dsn)
    try:
        # A table of another app where the baseline makes its own.
        await connection.execute("create table public.agents (id integer)")
    finally:
        await connection.close()
    monkeypatch.setenv("DATABASE_URL", dsn)
    get_settings.cache_clear()

    code, out, err = await cli(capsys, "migrate")

    # The server gives no position for this error, so the line names the file alone.
    assert (code, out) == (3, "")
    assert err == (
        'database error: migrate failed at 0001_baseline.sql: relation "agents" already exists'
        " (nothing of it was applied)\n"
    )


async def test_migrate_on_an_unreachable_database_names_neither_host_nor_password(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres:hunter2-password@127.0.0.1:{port}/postgres")
    get_settings.cache_clear()

    code, out, err = await cli(capsys, "migrate")

    assert (code, out) == (3, "")
    assert err == "database error: migrate could not reach the database at DATABASE_URL (OperationalError)\n"


async def test_run_prints_exactly_one_json_document_on_stdout(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cli(capsys, "run", "check-stale")
    assert code == 0
    result = json.loads(out)  # one document: a second line would not parse
    assert result["job"] == "check-stale" and result["trigger"] == "cli" and result["status"] == "ok"
    # The run's log line is still written, to stderr.
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["event"] for line in logged] == ["cron_run"]
    assert logged[0]["run_id"] == result["run_id"]


async def test_requests_json_shows_the_whole_failure_reason(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = json.loads((await cli(capsys, "request", "cleanup-heartbeats"))[1])["id"]
    reason = "webhook answered HTTP 422: " + "the receiver explained at length what it did not like " * 3
    await sql.execute(
        "update cron_run_requests set status = 'error', attempts = 1, completed_at = now(), "
        "result = jsonb_build_object('error', $2::text) where id = $1::uuid",
        failed,
        reason,
    )
    code, out, _ = await cli(capsys, "requests")
    assert code == 0 and reason not in out  # the table cuts it

    code, out, _ = await cli(capsys, "requests", "--json", "--status", "error")
    rows = json.loads(out)
    assert code == 0 and [row["id"] for row in rows] == [failed]
    assert rows[0]["result"]["error"] == reason


async def test_runs_json_prints_full_rows(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    run = json.loads((await cli(capsys, "run", "check-stale"))[1])
    code, out, _ = await cli(capsys, "runs", "--json")
    rows = json.loads(out)
    assert code == 0 and [row["id"] for row in rows] == [run["run_id"]]
    assert rows[0]["stats"] == run["stats"] and rows[0]["trigger"] == "cli"


# -- the table formatting itself ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (True, "yes"),
        (12, "12"),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        ("2026-11-23T10:00:00.012345+00:00", "2026-11-23 10:00:00Z"),
        ("2026-11-23T10:00:00+02:00", "2026-11-23 10:00:00+02:00"),
        ("two\nlines", "two lines"),
        ("x" * 50, "x" * 39 + "…"),
    ],
)
def test_cell(value: object, text: str) -> None:
    assert cell(value, 40) == text


def test_render_aligns_columns() -> None:
    columns = [Column("name", lambda r: r["name"]), Column("n", lambda r: r["n"])]
    assert render([{"name": "a", "n": 100}, {"name": "longer", "n": 2}], columns).splitlines() == [
        "name    n",
        "------  ---",
        "a       100",
        "longer  2",
    ]
    assert render([], columns) == "(none)"


def test_supabase_cron_is_a_command_of_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["supabase-cron", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m lib supabase-cron") and "install" in out and "uninstall" in out
