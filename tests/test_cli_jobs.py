"""`python -m lib jobs ...` and `python -m lib retry`: every action, as tables and as --json, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from lib.cli.jobs import schedule_type_of
from lib.migrate import vercel_crons
from lib.settings import get_settings
from tests.cli_run import cli, cli_json
from tests.factories import HOOK, add_job, add_request


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The CLI reads its settings from the environment: DATABASE_URL only, and no developer .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "ALLOW_HTTP_WEBHOOKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# -- list and show ------------------------------------------------------------------


async def test_jobs_list_is_a_table_of_every_job_with_its_schedule_in_words(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_job(sql, "nightly", schedule_type="cron", schedule="0 7 * * *", timezone="Europe/Berlin")
    await add_job(sql, "sync", project_id="acme", enabled=False)

    code, out, err = await cli(capsys, "jobs", "list")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "job",
        "kind",
        "target",
        "schedule",
        "next",
        "run",
        "last",
        "run",
        "last",
        "ms",
        "state",
    ]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert "at 07:00 every day (Europe/Berlin)" in rows["nightly"]
    assert "every 5 minutes (UTC, vercel.json)" in rows["check-stale"]
    assert rows["acme/sync"].rstrip().endswith("paused")
    assert len(rows) == len(vercel_crons()) + 2  # vercel.json's jobs, nightly and acme/sync


async def test_jobs_list_json_is_the_console_page_and_filters(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_job(sql, "sync", project_id="acme", enabled=False)
    await add_job(sql, "report-a")
    await add_job(sql, "report-b")

    page = await cli_json(capsys, "jobs", "list", "--project", "acme")
    assert [job["name"] for job in page["jobs"]] == ["sync"]
    assert page["projects"] == ["acme", "default"] and page["has_more"] is False

    paused = await cli_json(capsys, "jobs", "list", "--filter", "paused")
    assert [job["name"] for job in paused["jobs"]] == ["sync"]
    limited = await cli_json(capsys, "jobs", "list", "--search", "PORT-", "--limit", "1")
    assert [job["name"] for job in limited["jobs"]] == ["report-a"] and limited["has_more"] is True


async def test_jobs_show_prints_the_job_its_next_runs_and_its_history(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook", schedule_type="interval", schedule="every 2h")
    await add_request(sql, job_id)

    code, out, err = await cli(capsys, "jobs", "show", "hook")

    assert code == 0, err
    assert f"job        hook  ({job_id})" in out
    assert "schedule   every 2 hours (UTC)" in out
    assert out.count("next runs  ") == 1 and out.split("next runs  ")[1].count(",") == 4
    requests = out.split("\nrequests\n")[1].splitlines()
    assert requests[0].split()[:3] == ["id", "job", "status"] and "queued" in requests[2]

    detail = await cli_json(capsys, "jobs", "show", job_id)
    assert detail["job"]["name"] == "hook" and len(detail["next_runs"]) == 5
    assert [r["status"] for r in detail["requests"]] == ["queued"] and detail["runs"] == []


# -- add, edit, rm ----------------------------------------------------------------------


async def test_jobs_add_creates_a_job_and_reads_the_schedule_type_from_the_schedule(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cli(
        capsys, "jobs", "add", "deploy", "--project", "acme", "--target", HOOK, "--schedule", "every 90m",
        "--payload", '{"branch": "main"}',
    )  # fmt: skip

    assert code == 0, err
    assert out.splitlines()[0].split()[0] == "job" and "acme/deploy" in out and "every 90 minutes (UTC)" in out
    row = await sql.fetchrow("select * from cron_jobs where project_id = 'acme' and name = 'deploy'")
    assert (row["kind"], row["target"], row["schedule_type"], row["schedule"]) == (
        "webhook",
        HOOK,
        "interval",
        "every 90m",
    )
    assert json.loads(row["payload"]) == {"branch": "main"} and row["enabled"] and row["source"] == "user"

    made = await cli_json(capsys, "jobs", "add", "cleanup", "--kind", "builtin", "--target", "cleanup-heartbeats",
                          "--schedule", "0 3 * * *", "--timezone", "Europe/Berlin", "--paused")  # fmt: skip
    assert made["job"]["schedule_type"] == "cron" and made["job"]["enabled"] is False
    assert made["job"]["schedule_text"] == "at 03:00 every day (Europe/Berlin)" and made["job"]["next_run_at"] is None


async def test_jobs_edit_changes_only_what_it_is_given(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook", schedule_type="interval", schedule="5m", payload={"a": 1})

    edited = await cli_json(capsys, "jobs", "edit", "hook", "--schedule", "*/15 * * * *", "--name", "hook-2")

    assert edited["job"]["name"] == "hook-2" and edited["job"]["schedule_text"] == "every 15 minutes (UTC)"
    row = await sql.fetchrow("select * from cron_jobs where id = $1::uuid", job_id)
    assert (row["name"], row["schedule_type"], row["schedule"]) == ("hook-2", "cron", "*/15 * * * *")
    assert json.loads(row["payload"]) == {"a": 1} and row["target"] == HOOK

    manual = await cli_json(capsys, "jobs", "edit", "hook-2", "--no-schedule")
    assert (manual["job"]["schedule_type"], manual["job"]["schedule"]) == ("manual", None)


async def test_jobs_rm_deletes_the_job_and_its_requests(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    await add_request(sql, job_id)

    code, out, err = await cli(capsys, "jobs", "rm", "hook")

    assert code == 0, err
    assert out.strip() == "deleted job 'hook' (project 'default') and its run requests"
    assert await sql.fetchval("select count(*) from cron_jobs where name = 'hook'") == 0
    assert await sql.fetchval("select count(*) from cron_run_requests") == 0

    other = await add_job(sql, "other", project_id="acme")
    deleted = await cli_json(capsys, "jobs", "rm", "other", "--project", "acme")
    assert deleted == {"deleted": True, "id": other, "project_id": "acme", "name": "other"}
    assert await sql.fetchval("select count(*) from cron_jobs where project_id = 'acme'") == 0


# -- pause, resume, run, retry ----------------------------------------------------------------------


async def test_jobs_pause_resume_and_run(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    paused = await cli_json(capsys, "jobs", "pause", "check-stale")
    assert paused["job"]["enabled"] is False and paused["job"]["next_run_at"] is None
    assert await sql.fetchval("select enabled from cron_jobs where name = 'check-stale'") is False

    code, _, err = await cli(capsys, "jobs", "run", "check-stale")
    assert code == 1 and err.strip() == "refused: 'check-stale' is paused; resume it to queue runs"

    code, out, err = await cli(capsys, "jobs", "resume", "check-stale")
    assert code == 0, err
    assert out.rstrip().endswith("on")
    assert await sql.fetchval("select enabled from cron_jobs where name = 'check-stale'") is True

    # Run now runs now: the command executes the request and answers with it settled.
    ran = await cli_json(capsys, "jobs", "run", "check-stale", "--payload", '{"why": "test"}')
    assert (ran["started"], ran["waiting"], ran["request"]["status"]) == (True, None, "done")
    row = await sql.fetchrow("select * from cron_run_requests where id = $1::uuid", ran["request"]["id"])
    assert (row["status"], row["requested_by"], json.loads(row["payload"])) == ("done", "cli", {"why": "test"})
    assert (
        await sql.fetchval(
            "select trigger from cron_runs where job = 'check-stale' and request_id = $1", ran["request"]["id"]
        )
        == "run-request"
    )
    code, out, _ = await cli(capsys, "jobs", "run", "check-stale")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["id", "job", "status"] and "done" in out


async def test_retry_queues_a_linked_request_for_a_failed_one_only(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await add_job(sql, "hook")
    failed = await add_request(sql, job_id, payload={"n": 1})
    await sql.execute("update cron_run_requests set status = 'error' where id = $1::uuid", failed)

    retried = await cli_json(capsys, "retry", failed)

    assert retried["request"]["retry_of"] == failed and retried["request"]["payload"] == {"n": 1}
    row = await sql.fetchrow("select * from cron_run_requests where id = $1::uuid", retried["request"]["id"])
    assert (str(row["retry_of"]), row["status"], row["requested_by"]) == (failed, "queued", "cli")

    code, out, err = await cli(capsys, "retry", retried["request"]["id"])
    assert (code, out) == (1, "")
    assert err.strip() == "refused: only a request that ended in error can be retried; this one is queued"


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "show", "nope"], "not found: no job 'nope' in project 'default'"),
        (["jobs", "add", "x", "--target", HOOK, "--schedule", "61 * * * *"], "invalid schedule: cron schedule "),
        (["jobs", "add", "x", "--target", HOOK, "--schedule", "0 7 * * *", "--timezone", "Mars/Base"],
         "invalid timezone: timezone 'Mars/Base' is not an IANA time zone"),
        (["jobs", "add", "x y", "--target", HOOK], "invalid name: name must be 1 to 100 characters"),
        (["jobs", "add", "x", "--target", "http://example.com/hook?token=s3cret"],
         "invalid target: webhook target must be an https URL, got http://example.com"),
        (["jobs", "add", "x", "--kind", "builtin", "--target", "no"], "invalid target: a builtin job's target must be"),
        (["jobs", "add", "check-stale", "--target", HOOK], "refused: a job named 'check-stale' already exists"),
        (["jobs", "edit", "check-stale", "--schedule", "5m"], "refused: builtin jobs are defined by vercel.json"),
        (["jobs", "rm", "check-stale"], "refused: builtin jobs are defined by vercel.json"),
        (["retry", "not-an-id"], "not found: no run request with id 'not-an-id'"),
    ],
)  # fmt: skip
async def test_a_refusal_is_one_line_naming_the_field_and_exits_1(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = await sql.fetchval("select count(*) from cron_jobs")

    code, out, err = await cli(capsys, *args)

    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1, err
    assert "s3cret" not in err
    assert await sql.fetchval("select count(*) from cron_jobs") == before


def test_the_schedule_type_is_read_from_the_schedule() -> None:
    assert [schedule_type_of(s) for s in ("0 7 * * *", "@daily", "every 2h", "90", "3600000ms")] == [
        "cron", "cron", "interval", "interval", "interval",
    ]  # fmt: skip
    assert [schedule_type_of(s) for s in ("in 20m", "2026-05-01T09:00", "2026-05-01 09:00:00+02:00")] == ["once"] * 3
