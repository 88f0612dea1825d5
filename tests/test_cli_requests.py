"""`python -m lib requests cancel|bulk`: the console's cancel and bulk actions from a shell, and `requests list`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lib import manage
from lib.cli import run_requests
from lib.db import Database
from lib.settings import get_settings
from tests.cli_run import cli, cli_json
from tests.factories import add_job, add_request, add_requests


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The CLI reads its settings from the environment: DATABASE_URL only, and no developer .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


async def _end(sql: asyncpg.Connection, request_id: str, status: str) -> None:
    await sql.execute(
        "update cron_run_requests set status = $2, attempts = 1, picked_up_at = now(), "
        "completed_at = case when $2 = 'running' then null else now() end, "
        """result = case when $2 = 'error' then '{"error": "webhook answered HTTP 500"}'::jsonb end """
        "where id = $1::uuid",
        request_id,
        status,
    )


async def _row(sql: asyncpg.Connection, request_id: str) -> dict[str, Any]:
    row = await sql.fetchrow(
        "select status, result, completed_at, requested_by, retry_of from cron_run_requests where id = $1::uuid",
        request_id,
    )
    assert row is not None
    return dict(row)


async def _audit(sql: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await sql.fetch("select actor, action from ops_audit order by id")
    return [(row["actor"], row["action"]) for row in rows]


# -- cancel -------------------------------------------------------------------------------------


async def test_cancel_ends_a_queued_request_prints_it_and_is_audited_as_the_cli(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    first, second = await add_requests(sql, job_id, 2)

    code, out, err = await cli(capsys, "requests", "cancel", first)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "job", "status"] and len(lines) == 3
    assert lines[2].split()[:3] == [first, "hook", "error"] and "cancelled by cli" in lines[2]
    row = await _row(sql, first)
    assert row["status"] == "error" and row["completed_at"] is not None
    assert json.loads(row["result"]) == {"error": "cancelled by cli", "cancelled": True}
    assert (await _row(sql, second))["status"] == "queued"
    assert await _audit(sql) == [("cli", "request.cancel")]

    cancelled = await cli_json(capsys, "requests", "cancel", second)
    assert cancelled["request"]["id"] == second and cancelled["request"]["status"] == "error"
    assert cancelled["request"]["result"] == {"error": "cancelled by cli", "cancelled": True}


async def test_cancel_takes_a_held_request_and_a_repeat_answers_with_it_again(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    held = await add_request(sql, await add_job(sql, "hook", enabled=False))

    first = await cli_json(capsys, "requests", "cancel", held)
    again = await cli_json(capsys, "requests", "cancel", held)

    assert first["request"]["status"] == again["request"]["status"] == "error"
    assert again["request"]["completed_at"] == first["request"]["completed_at"]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("done", "refused: only a queued request can be cancelled; this one is done"),
        ("error", "refused: only a queued request can be cancelled; this one is error"),
        ("running", "refused: only a queued request can be cancelled; this one is running (it is not interrupted)"),
    ],
)
async def test_cancel_of_a_request_that_is_not_queued_is_refused_and_changes_nothing(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str], status: str, why: str
) -> None:
    request_id = await add_request(sql, await add_job(sql, "hook"))
    await _end(sql, request_id, status)
    before = await _row(sql, request_id)

    code, out, err = await cli(capsys, "requests", "cancel", request_id)

    assert (code, out) == (1, "")
    assert err == why + "\n"
    assert await _row(sql, request_id) == before
    assert await _audit(sql) == []


async def test_cancel_of_an_unknown_id_is_not_found(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cli(capsys, "requests", "cancel", "2f6c0f4e-0000-4000-8000-000000000000")
    assert (code, out) == (1, "")
    assert err == "not found: no run request with id 2f6c0f4e-0000-4000-8000-000000000000\n"


@pytest.mark.parametrize("ref", ["12", "nope", "2f6c0f4e-0000-4000-8000"])
async def test_a_malformed_id_is_refused_before_any_database_is_opened(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    # With no database configured at all, the id is still what the command names.
    cli_env.delenv("DATABASE_URL")
    get_settings.cache_clear()

    code, out, err = await cli(capsys, "requests", "cancel", ref)

    assert (code, out) == (1, "")
    assert err == "invalid request id: a run request's id is a UUID, as `python -m lib requests` lists them\n"


async def test_an_unreachable_database_is_exit_3_and_never_shows_the_password(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    cli_env.setenv("DATABASE_URL", f"postgresql://ops:s3cret-pw@127.0.0.1:{port}/cronrelay")
    get_settings.cache_clear()

    for args in (["cancel", "2f6c0f4e-0000-4000-8000-000000000000"], ["bulk", "retry", "--dry-run"]):
        code, out, err = await cli(capsys, "requests", *args)
        assert (code, out) == (3, ""), err
        assert err.startswith("database error: database unavailable") and err.count("\n") == 1, err
        assert "s3cret-pw" not in err


# -- bulk -------------------------------------------------------------------------------------------


async def test_a_bulk_dry_run_counts_and_changes_nothing(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    queued = await add_requests(sql, job_id, 3)
    for request_id in queued[:2]:
        await _end(sql, request_id, "error")
    before = await sql.fetch("select * from cron_run_requests order by id")

    code, out, err = await cli(capsys, "requests", "bulk", "retry", "--dry-run")
    assert code == 0, err
    assert out == "2 run requests would be retried (dry run: nothing changed)\n"
    counted = await cli_json(capsys, "requests", "bulk", "cancel", "--dry-run")
    assert counted == {"action": "cancel", "dry_run": True, "matched": 1, "done": 0, "has_more": False}
    code, out, _ = await cli(capsys, "requests", "bulk", "cancel", "--dry-run", "--job", "hook", "--since", "1h")
    assert out == "1 run request would be cancelled (dry run: nothing changed)\n"

    assert await sql.fetch("select * from cron_run_requests order by id") == before
    # A dry run only counts: no audit row either.
    assert await _audit(sql) == []


async def test_bulk_retry_makes_one_linked_request_per_failed_one_and_only_once(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = await add_job(sql, "hook")
    other = await add_job(sql, "other")
    failed = await add_requests(sql, hook, 3, payload={"n": 1})
    elsewhere = await add_request(sql, other)
    for request_id in [*failed, elsewhere]:
        await _end(sql, request_id, "error")

    code, out, err = await cli(capsys, "requests", "bulk", "retry", "--job", "hook")

    assert code == 0, err
    assert out == "retried 3 run requests\n"
    retries = await sql.fetch(
        "select retry_of::text, status, requested_by, payload from cron_run_requests where retry_of is not null"
    )
    assert sorted(row["retry_of"] for row in retries) == sorted(failed)
    assert {(row["status"], row["requested_by"], row["payload"]) for row in retries} == {("queued", "cli", '{"n": 1}')}
    assert (await _row(sql, elsewhere))["retry_of"] is None
    # One audit row per request written, as the console's bulk action leaves.
    assert await _audit(sql) == [("cli", "request.bulk")] * 3

    # The same command again finds nothing: a request is retried once.
    code, out, err = await cli(capsys, "requests", "bulk", "retry", "--job", "hook")
    assert (code, out) == (0, "no run request to retry matches (nothing changed)\n"), err
    assert await sql.fetchval("select count(*) from cron_run_requests where retry_of is not null") == 3
    again = await cli_json(capsys, "requests", "bulk", "retry", "--job", "hook")
    assert (again["matched"], again["done"]) == (0, 0)


async def test_bulk_cancel_takes_the_project_and_the_window(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = await add_job(sql, "sync", project_id="acme")
    home = await add_job(sql, "sync")
    old, recent = await add_requests(sql, acme, 2)
    # request_run copies the job's project onto the request; the factory's plain insert does not.
    await sql.execute("update cron_run_requests set project_id = 'acme' where job_id = $1::uuid", acme)
    await sql.execute("update cron_run_requests set requested_at = '2026-11-01T10:00:00Z' where id = $1::uuid", old)
    at_home = await add_request(sql, home)

    code, out, err = await cli(
        capsys, "requests", "bulk", "cancel", "--project", "acme", "--since", "2026-11-01T00:00:00Z",
        "--before", "2026-11-02T00:00:00+01:00",
    )  # fmt: skip

    assert (code, out) == (0, "cancelled 1 run request\n"), err
    assert [(await _row(sql, r))["status"] for r in (old, recent, at_home)] == ["error", "queued", "queued"]

    # `--job` by name reads it in --project; by id it needs none.
    done = await cli_json(
        capsys, "requests", "bulk", "cancel", "--job", "sync", "--project", "acme", "--until", "2099-01-01T00:00:00Z"
    )
    assert (done["matched"], done["done"]) == (1, 1)
    done = await cli_json(capsys, "requests", "bulk", "cancel", "--job", home)
    assert (done["matched"], done["done"]) == (1, 1)
    assert [(await _row(sql, r))["status"] for r in (recent, at_home)] == ["error", "error"]


async def test_more_than_twenty_matches_need_yes(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    await add_requests(sql, job_id, run_requests.CONFIRM_ABOVE + 1)

    code, out, err = await cli(capsys, "requests", "bulk", "cancel")

    assert (code, out) == (1, "")
    assert err == (
        "refused: 21 run requests match, more than 20: add --yes to cancel them "
        "(--dry-run counts without changing anything)\n"
    )
    assert await sql.fetchval("select count(*) from cron_run_requests where status = 'queued'") == 21
    assert await _audit(sql) == []

    code, out, err = await cli(capsys, "requests", "bulk", "cancel", "--yes")
    assert (code, out) == (0, "cancelled 21 run requests\n"), err
    assert await sql.fetchval("select count(*) from cron_run_requests where status = 'queued'") == 0


async def test_twenty_or_fewer_go_ahead_without_yes(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_requests(sql, await add_job(sql, "hook"), run_requests.CONFIRM_ABOVE)

    code, out, err = await cli(capsys, "requests", "bulk", "cancel")

    assert (code, out) == (0, "cancelled 20 run requests\n"), err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bulk", "retry", "--status", "queued"], "invalid status: retry takes error requests only"),
        (["bulk", "cancel", "--since", "1h", "--until", "2h"], "invalid since: since must be before until"),
        (["bulk", "retry", "--job", "nope"], "not found: no job 'nope' in project 'default'"),
    ],
)
async def test_a_bulk_refusal_is_one_line_and_exit_1(
    cli_env: pytest.MonkeyPatch,
    sql: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    await add_request(sql, await add_job(sql, "hook"))

    code, out, err = await cli(capsys, "requests", *args)

    assert (code, out, err) == (1, "", message + "\n")
    assert await sql.fetchval("select count(*) from cron_run_requests where status = 'queued'") == 1


@pytest.mark.parametrize("when", ["yesterday", "2026-12-01T00:00:00", "-5m"])
async def test_a_bad_instant_is_a_usage_error_naming_the_option(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        await cli(capsys, "requests", "bulk", "retry", "--since", when)
    assert exited.value.code == 2
    assert "argument --since:" in capsys.readouterr().err


# -- through both adapters ----------------------------------------------------------------------


async def test_the_commands_act_the_same_through_either_adapter(db: Database, sql: asyncpg.Connection) -> None:
    cli_db = manage.acting(db, manage.CLI)
    job_id = await add_job(sql, "hook")
    first, second, third = await add_requests(sql, job_id, 3)

    table = await run_requests.answer(cli_db, run_requests.parse(["cancel", first]))
    counted = await run_requests.answer(cli_db, run_requests.parse(["bulk", "cancel", "--dry-run", "--json"]))
    cancelled = await run_requests.answer(cli_db, run_requests.parse(["bulk", "cancel"]))
    retried = await run_requests.answer(cli_db, run_requests.parse(["bulk", "retry", "--job", "hook"]))

    assert "cancelled by cli" in table.splitlines()[2]
    assert json.loads(counted)["matched"] == 2
    assert cancelled == "cancelled 2 run requests"
    assert retried == "retried 3 run requests"
    linked = await sql.fetch("select retry_of::text from cron_run_requests where retry_of is not null")
    assert sorted(row["retry_of"] for row in linked) == sorted([first, second, third])
    assert await _audit(sql) == [("cli", "request.cancel"), *[("cli", "request.bulk")] * 5]

    # A refusal comes back the same way through PostgREST's error bodies: one line, no audit row.
    await _end(sql, third, "done")
    with pytest.raises(manage.ManageError) as refused:
        await run_requests.answer(cli_db, run_requests.parse(["cancel", third]))
    assert (refused.value.status, str(refused.value)) == (
        409,
        "only a queued request can be cancelled; this one is done",
    )
    assert len(await _audit(sql)) == 6


# -- the listing --------------------------------------------------------------------------------


async def test_requests_list_is_the_bare_requests_listing(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    queued, failed = await add_requests(sql, job_id, 2)
    await _end(sql, failed, "error")

    bare = await cli(capsys, "requests")
    listed = await cli(capsys, "requests", "list")
    assert bare == listed and bare[0] == 0
    assert bare[1].splitlines()[0].split()[:5] == ["id", "job", "status", "tries", "requested"]
    assert queued in bare[1] and failed in bare[1]

    only = await cli(capsys, "requests", "list", "--status", "error", "--json")
    assert only == await cli(capsys, "requests", "--status", "error", "--json")
    assert [row["id"] for row in json.loads(only[1])] == [failed]
