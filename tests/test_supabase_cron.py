"""`python -m lib supabase-cron`, against a real pg_cron (Debian's postgresql-15 and postgresql-15-cron).

pg_cron is the real extension, started by tests/pg_cron_server.py with
`shared_preload_libraries = 'pg_cron'`. Two Supabase pieces are not packaged,
so these tests stand in for them:

- **pg_net**: a `net` schema whose `net.http_get` and `net.http_post` have
  pg_net's signatures (supabase/pg_net sql/pg_net.sql: url, [body,] params,
  headers, timeout_milliseconds, returning a bigint id) and record each call in
  `net.calls` instead of making it (pg_net sends after the commit; a call
  recorded by a rolled-back transaction is gone, as with pg_net). The tests
  then replay the recorded calls over HTTP against the app, with the
  `User-Agent: pg_net/<version>` header pg_net's worker adds to every request
  (src/core.c), and read the ledger.
- **Supabase Vault**: a `vault` schema with `vault.secrets`,
  `vault.create_secret`, `vault.update_secret` and the `vault.decrypted_secrets`
  view, with Vault's signatures (supabase/vault sql/supabase_vault--0.3.0.sql)
  but no encryption.

Debian 12's pg_cron is 1.4, which schedules by the minute (second intervals
came in 1.5). Rather than wait up to a minute for the scheduler, a test runs a
job's command text from `cron.job` the way pg_cron does (as the job's user, in
its database), and writes the run-history row the way pg_cron writes one. The
real scheduler keeps running meanwhile, so calls are told apart by backend pid
and run-history rows by runid. One test does wait for the scheduler itself: at
once on pg_cron 1.5+ (a '2 seconds' job), or up to a minute on 1.4 when
CRONRELAY_SLOW_TESTS=1.

Without those packages the pg_cron tests are skipped with a message naming
them; the tests that need no pg_cron (URL checks, --print, error lines) run
everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from lib.cli import supabase_cron
from lib.cli.supabase_cron import (
    PRUNE_JOB,
    PRUNE_SCHEDULE,
    SECRET_NAME,
    SECRET_PLACEHOLDER,
    SupabaseCronError,
    install_sql,
    main,
    target_url,
)
from lib.migrate import migrate, vercel_crons
from lib.settings import get_settings, load_settings
from tests import pg_cron_server
from tests.conftest import SECRET, app_client
from tests.fakes.webhook import local_receiver

TOKEN = "123456:TEST-secret_token-abcdef"
APP = "https://my-app.example.com"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "supabase-cron.md"
PG_NET_USER_AGENT = "pg_net/0.20.5"  # what pg_net's worker sends (supabase/pg_net src/core.c)
SERVER = pytest.StashKey[pg_cron_server.PgCronServer]()

MISSING = pg_cron_server.missing()
needs_pg_cron = pytest.mark.skipif(MISSING is not None, reason=f"needs a real pg_cron: {MISSING}")

STAND_INS = """
drop schema if exists net cascade;
drop schema if exists vault cascade;

create schema net;
create table net.calls (
    id bigserial primary key,
    pid int not null default pg_backend_pid(),
    method text not null default 'GET',
    url text not null,
    params jsonb,
    headers jsonb,
    body jsonb,
    timeout_milliseconds int,
    created timestamptz not null default clock_timestamp()
);
create function net.http_post(
    url text,
    body jsonb default '{}'::jsonb,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds int default 5000
) returns bigint language sql as $$
    insert into net.calls (method, url, params, headers, body, timeout_milliseconds)
    values ('POST', url, params, headers, body, timeout_milliseconds)
    returning id
$$;
create function net.http_get(
    url text,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{}'::jsonb,
    timeout_milliseconds int default 5000
) returns bigint language sql as $$
    insert into net.calls (url, params, headers, timeout_milliseconds)
    values (url, params, headers, timeout_milliseconds)
    returning id
$$;

create schema vault;
create table vault.secrets (
    id uuid primary key default gen_random_uuid(),
    name text,
    description text not null default '',
    secret text not null,
    key_id uuid,
    nonce bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index on vault.secrets (name) where name is not null;
create view vault.decrypted_secrets as
    select id, name, description, secret, secret as decrypted_secret, key_id, nonce, created_at, updated_at
    from vault.secrets;
create function vault.create_secret(
    new_secret text, new_name text = null, new_description text = '', new_key_id uuid = null
) returns uuid language sql as $$
    insert into vault.secrets (secret, name, description) values (new_secret, new_name, new_description)
    returning id
$$;
create function vault.update_secret(
    secret_id uuid, new_secret text = null, new_name text = null, new_description text = null,
    new_key_id uuid = null
) returns void language sql as $$
    update vault.secrets set
        secret = coalesce(new_secret, secret),
        name = coalesce(new_name, name),
        description = coalesce(new_description, description),
        updated_at = now()
    where id = secret_id
$$;
"""


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_cron() -> Iterator[pg_cron_server.PgCronServer]:
    if MISSING is not None:
        pytest.skip(f"needs a real pg_cron: {MISSING}")
    server = pg_cron_server.start_server()
    yield server
    server.stop()


@pytest.fixture
async def cron_db(pg_cron: pg_cron_server.PgCronServer) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the pg_cron database, with no jobs, no history and fresh stand-ins."""
    connection = await asyncpg.connect(pg_cron.dsn)
    await connection.execute("create extension if not exists pg_cron")
    await connection.execute("select cron.unschedule(jobid) from cron.job")
    await connection.execute("delete from cron.job_run_details")
    await connection.execute(STAND_INS)
    yield connection
    await connection.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The CLI reads the environment: CRON_SECRET only, no developer .env, no database until a test sets one."""
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL", "RUN_TIME_BUDGET_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEASE_SECONDS", "120")
    monkeypatch.setenv("ALLOW_HTTP_WEBHOOKS", "false")
    monkeypatch.setenv("CRON_SECRET", SECRET)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def on_pg_cron(cli_env: pytest.MonkeyPatch, cron_db: asyncpg.Connection, pg_cron: pg_cron_server.PgCronServer) -> None:
    cli_env.setenv("DATABASE_URL", pg_cron.dsn)
    get_settings.cache_clear()


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    # The command runs its own event loop (asyncio.run), so it gets a thread of its own.
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def expected_jobs() -> dict[str, str]:
    return {f"cronrelay:{job}": schedule for job, schedule in vercel_crons()} | {PRUNE_JOB: PRUNE_SCHEDULE}


async def our_jobs(connection: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await connection.fetch("select * from cron.job where jobname like 'cronrelay:%' order by jobname")
    return {row["jobname"]: row for row in rows}


async def run_command(connection: asyncpg.Connection, jobname: str) -> list[asyncpg.Record]:
    """Run a job's command as pg_cron would; return the http_get calls it made."""
    command = await connection.fetchval("select command from cron.job where jobname = $1", jobname)
    before = await connection.fetchval("select coalesce(max(id), 0) from net.calls")
    await connection.execute(command)
    calls: list[asyncpg.Record] = await connection.fetch(
        "select * from net.calls where id > $1 and pid = pg_backend_pid() order by id", before
    )
    return calls


async def record_run(
    connection: asyncpg.Connection, jobname: str, status: str, message: str, age: timedelta = timedelta(0)
) -> int:
    """A cron.job_run_details row as pg_cron writes one after running the job."""
    runid: int = await connection.fetchval(
        "insert into cron.job_run_details"
        " (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)"
        " select jobid, 4242, database, username, command, $2, $3,"
        "        now() - $4::interval - interval '1 second', now() - $4::interval"
        " from cron.job where jobname = $1 returning runid",
        jobname,
        status,
        message,
        age,
    )
    return runid


# -- install ----------------------------------------------------------------


@needs_pg_cron
async def test_install_twice_leaves_one_job_per_vercel_cron_and_no_secret_in_cron_job(
    on_pg_cron: None, cron_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "install", "--url", APP)
    assert code == 0, out
    assert f"Vault secret {SECRET_NAME}: created" in out
    first = await our_jobs(cron_db)

    code, out, _ = await cli(capsys, "install", "--url", APP + "/")
    assert code == 0
    assert f"Vault secret {SECRET_NAME}: unchanged" in out
    jobs = await our_jobs(cron_db)

    assert {name: row["schedule"] for name, row in jobs.items()} == expected_jobs()
    assert {name: row["jobid"] for name, row in jobs.items()} == {name: row["jobid"] for name, row in first.items()}
    assert all(row["active"] for row in jobs.values())
    for name, row in jobs.items():
        assert SECRET not in row["command"]
        if name != PRUNE_JOB:
            job = name.removeprefix("cronrelay:")
            assert f"'{APP}/api/cron/{job}'" in row["command"]
            assert "vault.decrypted_secrets where name = 'cronrelay_cron_secret'" in row["command"]
    secrets = await cron_db.fetch("select name, secret from vault.secrets")
    assert [(row["name"], row["secret"]) for row in secrets] == [(SECRET_NAME, SECRET)]
    # The stand-in net schema already has http_get, so install did not try to create pg_net.
    assert await cron_db.fetchval("select count(*) from pg_extension where extname = 'pg_net'") == 0


@needs_pg_cron
async def test_reinstall_updates_in_place_drops_jobs_gone_from_vercel_json_and_rotates_the_secret(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await cron_db.execute("select cron.schedule('nightly-vacuum', '0 2 * * *', 'vacuum')")
    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("check-stale", "*/10 * * * *"), ("old-job", "0 * * * *")])
    assert (await cli(capsys, "install", "--url", "https://old.example.com"))[0] == 0
    before = await our_jobs(cron_db)
    assert set(before) == {"cronrelay:check-stale", "cronrelay:old-job", PRUNE_JOB}

    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("check-stale", "*/5 * * * *")])
    cli_env.setenv("CRON_SECRET", "rotated-secret-0123456789")
    get_settings.cache_clear()
    code, out, _ = await cli(capsys, "install", "--url", APP)

    assert code == 0
    assert "unscheduled (no longer in vercel.json): cronrelay:old-job" in out
    assert f"Vault secret {SECRET_NAME}: updated" in out
    after = await our_jobs(cron_db)
    assert set(after) == {"cronrelay:check-stale", PRUNE_JOB}
    stale = after["cronrelay:check-stale"]
    assert stale["jobid"] == before["cronrelay:check-stale"]["jobid"]
    assert stale["schedule"] == "*/5 * * * *"
    assert APP in stale["command"] and "old.example.com" not in stale["command"]
    assert await cron_db.fetchval("select secret from vault.secrets where name = $1", SECRET_NAME) == (
        "rotated-secret-0123456789"
    )
    assert await cron_db.fetchval("select count(*) from cron.job where jobname = 'nightly-vacuum'") == 1


@needs_pg_cron
async def test_each_job_calls_the_app_and_the_runs_land_in_the_ledger_as_supabase_cron(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    sql: asyncpg.Connection,
    pg_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (await cli(capsys, "install", "--url", APP + "/"))[0] == 0
    app_settings = load_settings(cron_secret=SECRET, database_url=pg_dsn, telegram_bot_token=TOKEN, _env_file=None)

    replies = {}
    async with app_client(app_settings) as http:
        for job, _ in vercel_crons():
            calls = await run_command(cron_db, f"cronrelay:{job}")
            assert len(calls) == 1
            call = calls[0]
            assert call["url"] == f"{APP}/api/cron/{job}"
            assert call["timeout_milliseconds"] == 60_000 > 50_000  # default run budget, plus 10 s
            headers = json.loads(call["headers"])
            assert headers == {"Authorization": f"Bearer {SECRET}"}
            url = urlsplit(call["url"])
            response = await http.get(url.path, headers={**headers, "User-Agent": PG_NET_USER_AGENT})
            replies[job] = response.status_code, response.json().get("trigger")

    assert replies == {job: (200, "supabase-cron") for job, _ in vercel_crons()}
    ledger = await sql.fetch("select job, trigger, status from cron_runs order by id")
    assert sorted((row["job"], row["trigger"]) for row in ledger) == sorted(
        (job, "supabase-cron") for job, _ in vercel_crons()
    )
    assert {row["status"] for row in ledger} == {"ok"}


@needs_pg_cron
async def test_the_scheduler_itself_runs_an_installed_job(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pg_cron's own worker runs the command: the Vault lookup and the http_get work in its session too."""
    version = await cron_db.fetchval("select extversion from pg_extension where extname = 'pg_cron'")
    seconds = supabase_cron._version(version) >= (1, 5)
    if not seconds and os.environ.get("CRONRELAY_SLOW_TESTS") != "1":
        pytest.skip(f"pg_cron {version} schedules by the minute; set CRONRELAY_SLOW_TESTS=1 to wait up to a minute")
    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("schedule", "2 seconds" if seconds else "* * * * *")])
    assert (await cli(capsys, "install", "--url", APP))[0] == 0

    for _ in range(150):
        calls = await cron_db.fetch("select url, headers from net.calls")
        if calls:
            break
        await asyncio.sleep(0.5)

    assert [(row["url"], json.loads(row["headers"])) for row in calls[:1]] == [
        (f"{APP}/api/cron/schedule", {"Authorization": f"Bearer {SECRET}"})
    ]
    # pg_cron writes the run's history row just after the command commits.
    for _ in range(20):
        _, out, _ = await cli(capsys, "status", "--json")
        last_run = {row["job"]: row["last_run"] for row in json.loads(out)}["cronrelay:schedule"]
        if last_run is not None:
            break
        await asyncio.sleep(0.5)
    assert last_run is not None and last_run["status"] == "succeeded"


@needs_pg_cron
async def test_the_prune_job_deletes_run_history_older_than_seven_days(
    on_pg_cron: None, cron_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    old = await record_run(cron_db, "cronrelay:check-stale", "succeeded", "1 row", age=timedelta(days=8))
    recent = await record_run(cron_db, "cronrelay:check-stale", "succeeded", "1 row", age=timedelta(days=6))

    await run_command(cron_db, PRUNE_JOB)

    left = {row["runid"] for row in await cron_db.fetch("select runid from cron.job_run_details")}
    assert recent in left and old not in left


# -- status -----------------------------------------------------------------


@needs_pg_cron
async def test_status_lists_schedule_active_flag_and_last_run(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Schedules the real scheduler never reaches (31 February), so the last runs are the ones written here.
    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("check-stale", "0 0 31 2 *"), ("schedule", "5 0 31 2 *")])
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    await cron_db.execute("select cron.alter_job(jobid, active := false) from cron.job where jobname = $1", PRUNE_JOB)
    await record_run(cron_db, "cronrelay:schedule", "failed", "connection refused", age=timedelta(hours=1))
    await record_run(cron_db, "cronrelay:schedule", "succeeded", "1 row")

    code, out, _ = await cli(capsys, "status", "--json")

    assert code == 0
    rows = {row["job"]: row for row in json.loads(out)}
    assert {name: (row["schedule"], row["active"]) for name, row in rows.items()} == {
        "cronrelay:check-stale": ("0 0 31 2 *", True),
        "cronrelay:schedule": ("5 0 31 2 *", True),
        PRUNE_JOB: (PRUNE_SCHEDULE, False),
    }
    assert rows["cronrelay:check-stale"]["last_run"] is None
    assert rows["cronrelay:schedule"]["last_run"]["status"] == "succeeded"
    assert rows["cronrelay:schedule"]["last_run"]["return_message"] == "1 row"
    assert rows["cronrelay:schedule"]["url"] == f"{APP}/api/cron/schedule"

    code, out, _ = await cli(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["job", "schedule", "active", "last", "run", "started", "message"]
    line = next(line for line in lines if line.startswith("cronrelay:schedule "))
    assert "5 0 31 2 *" in line and " yes " in line and "succeeded" in line and "1 row" in line
    assert next(line for line in lines if line.startswith(PRUNE_JOB)).split()[6] == "no"


@needs_pg_cron
async def test_status_times_are_utc_whatever_the_sessions_time_zone(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("schedule", "5 0 31 2 *")])
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    await record_run(cron_db, "cronrelay:schedule", "succeeded", "1 row")
    # libpq sets the session's TimeZone from PGTZ; Postgres then answers timestamptz in that zone.
    cli_env.setenv("PGTZ", "Asia/Tokyo")

    code, out, _ = await cli(capsys, "status", "--json")

    assert code == 0
    last_run = {row["job"]: row for row in json.loads(out)}["cronrelay:schedule"]["last_run"]
    assert last_run["start_time"].endswith("+00:00") and last_run["end_time"].endswith("+00:00"), last_run


@needs_pg_cron
async def test_status_before_install_says_how_to_install(on_pg_cron: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await cli(capsys, "status")
    assert code == 0 and "no cronrelay:* jobs" in out and "supabase-cron install --url" in out
    code, out, _ = await cli(capsys, "status", "--json")
    assert code == 0 and json.loads(out) == []


# -- uninstall --------------------------------------------------------------


@needs_pg_cron
async def test_uninstall_removes_only_its_own_jobs_and_its_secret(
    on_pg_cron: None, cron_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await cron_db.execute("select cron.schedule('nightly-vacuum', '0 2 * * *', 'vacuum')")
    await cron_db.execute("select cron.schedule('cronrelay-lookalike', '0 3 * * *', 'select 1')")
    await cron_db.execute("select vault.create_secret('another-apps-secret', 'other_app_key')")
    assert (await cli(capsys, "install", "--url", APP))[0] == 0

    code, out, _ = await cli(capsys, "uninstall")

    assert code == 0
    assert f"unscheduled {len(expected_jobs())} jobs: " in out
    assert f"Vault secret {SECRET_NAME}: removed" in out
    left = [row["jobname"] for row in await cron_db.fetch("select jobname from cron.job order by jobname")]
    assert left == ["cronrelay-lookalike", "nightly-vacuum"]
    assert [row["name"] for row in await cron_db.fetch("select name from vault.secrets")] == ["other_app_key"]

    code, out, _ = await cli(capsys, "uninstall")
    assert code == 0 and "no cronrelay:* jobs were scheduled" in out and f"{SECRET_NAME}: absent" in out


@needs_pg_cron
async def test_uninstall_keeps_a_vault_secret_it_did_not_make(
    on_pg_cron: None, cron_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await cron_db.execute("select vault.create_secret($1, $2, 'made by hand')", SECRET, SECRET_NAME)
    code, out, _ = await cli(capsys, "install", "--url", APP)
    assert code == 0 and f"{SECRET_NAME}: unchanged" in out

    code, out, _ = await cli(capsys, "uninstall")

    assert code == 0 and f"{SECRET_NAME}: kept (not made by install)" in out
    assert await cron_db.fetchval("select count(*) from vault.secrets where name = $1", SECRET_NAME) == 1
    assert await cron_db.fetchval("select count(*) from cron.job where jobname like 'cronrelay:%'") == 0


# -- install --print --------------------------------------------------------


async def test_print_shows_the_sql_with_a_placeholder_for_the_secret(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(capsys, "install", "--url", APP + "/", "--print")

    assert code == 0
    assert SECRET_PLACEHOLDER in out and SECRET not in out
    assert "//api" not in out
    schedules = [line for line in out.splitlines() if line.startswith("select cron.schedule(")]
    assert len(schedules) == len(vercel_crons()) + 1
    for job, schedule in vercel_crons():
        assert any(
            line.startswith(f"select cron.schedule('cronrelay:{job}', '{schedule}', $$select net.http_get(")
            and f"url := '{APP}/api/cron/{job}'" in line
            and "timeout_milliseconds := 60000)$$);" in line
            for line in schedules
        )
    assert out.splitlines()[4] == "begin;" and out.rstrip().endswith("commit;")


async def test_the_printed_sql_in_the_docs_is_what_print_writes(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/supabase-cron.md quotes --print for the shipped vercel.json; it must not go stale.
    code, out, _ = await cli(capsys, "install", "--url", "https://my-app.vercel.app", "--print")
    docs = DOCS.read_text()

    assert code == 0
    assert out.strip() in docs


@needs_pg_cron
async def test_the_printed_sql_does_what_install_does(
    on_pg_cron: None, cron_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await cron_db.execute("select cron.schedule('cronrelay:old-job', '0 * * * *', 'select 1')")
    code, printed, _ = await cli(capsys, "install", "--url", APP, "--print")
    assert code == 0
    # pg_net is not packaged; its stand-in schema is already there.
    assert "create extension if not exists pg_net;\n" in printed
    script = printed.replace("create extension if not exists pg_net;\n", "").replace(SECRET_PLACEHOLDER, SECRET)

    await cron_db.execute(script)
    await cron_db.execute(script)  # the SQL editor's "run" pressed twice

    by_script = {name: (row["schedule"], row["command"]) for name, row in (await our_jobs(cron_db)).items()}
    assert await cron_db.fetchval("select secret from vault.secrets where name = $1", SECRET_NAME) == SECRET
    code, out, _ = await cli(capsys, "install", "--url", APP)
    assert code == 0 and f"{SECRET_NAME}: unchanged" in out
    by_install = {name: (row["schedule"], row["command"]) for name, row in (await our_jobs(cron_db)).items()}
    assert by_script == by_install
    assert set(by_script) == set(expected_jobs())


# -- errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("http://bad-host.example.com", False, "must use https://"),
        ("http://bad-host.example.com", True, "must use https://"),
        ("http://localhost:3000", False, "must use https://"),
        ("ftp://bad-host.example.com", False, "https:// and a host"),
        ("bad-host.example.com", False, "https:// and a host"),
        ("https://", False, "no host"),
        ("https://user:pw@bad-host.example.com", False, "must not carry credentials"),
        ("https://bad-host.example.com/?x=1", False, "without a query or fragment"),
        ("https://bad-host.example.com/#top", False, "without a query or fragment"),
        ("https://bad-host.example.com/api/cron", False, "without /api or /api/cron"),
        ("https://bad-host.example.com/api/", False, "without /api or /api/cron"),
        ("https://bad-host.example.com/a//b", False, "empty segment"),
        ("https://bad-host.example.com/it's", False, "a character a URL cannot hold"),
        ("https://bad-host.example.com:99999", False, "not a valid URL"),
    ],
)
def test_a_bad_url_is_refused_with_what_is_wrong(url: str, allow_http: bool, problem: str) -> None:
    with pytest.raises(SupabaseCronError) as caught:
        target_url(url, allow_http)
    assert problem in str(caught.value)
    assert "bad-host" not in str(caught.value) and "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "allow_http", "base"),
    [
        ("https://my-app.example.com", False, "https://my-app.example.com"),
        ("  https://my-app.example.com///  ", False, "https://my-app.example.com"),
        ("https://example.com/cronrelay/", False, "https://example.com/cronrelay"),
        ("https://my-app.example.com:8443/", False, "https://my-app.example.com:8443"),
        ("http://localhost:3000/", True, "http://localhost:3000"),
        ("http://127.0.0.1:3000", True, "http://127.0.0.1:3000"),
    ],
)
def test_a_good_url_becomes_a_base_without_a_trailing_slash(url: str, allow_http: bool, base: str) -> None:
    assert target_url(url, allow_http) == base


def test_the_timeout_stays_above_any_run_budget() -> None:
    settings = load_settings(run_time_budget_seconds=299.5, lease_seconds=400, _env_file=None)
    sql = install_sql(APP, settings)
    assert "timeout_milliseconds := 310000)" in sql and "RUN_TIME_BUDGET_SECONDS=299.5" in sql


async def test_an_http_url_is_an_error_line_and_exit_2(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cli(capsys, "install", "--url", "http://my-app.example.com", "--print")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("supabase-cron: --url must use https://")


async def test_without_database_url_each_action_says_so(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in (["install", "--url", APP], ["status"], ["uninstall"]):
        code, out, err = await cli(capsys, *action)
        assert (code, out) == (2, "")
        assert err.startswith("supabase-cron: DATABASE_URL is not set") and err.count("\n") == 1


async def test_install_without_cron_secret_says_so(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.delenv("CRON_SECRET")
    cli_env.setenv("DATABASE_URL", "postgresql://postgres:hunter2-password@127.0.0.1:1/postgres")
    get_settings.cache_clear()
    code, _, err = await cli(capsys, "install", "--url", APP)
    assert code == 2 and "CRON_SECRET is not set or shorter than 16 characters" in err


async def test_an_unreachable_database_is_exit_3_without_the_password(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.setenv("DATABASE_URL", "postgresql://postgres:hunter2-password@127.0.0.1:1/postgres")
    get_settings.cache_clear()
    code, _, err = await cli(capsys, "status")
    assert code == 3 and err.startswith("supabase-cron: could not connect to DATABASE_URL")
    assert "hunter2" not in err and err.count("\n") == 1


async def test_a_database_without_pg_cron_says_how_to_enable_it(
    cli_env: pytest.MonkeyPatch, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The suite's embedded Postgres has no pg_cron.
    cli_env.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()

    code, _, err = await cli(capsys, "install", "--url", APP)
    assert code == 3 and err.count("\n") == 1
    assert err.startswith("supabase-cron: pg_cron is not available (")
    assert "Supabase Dashboard → Database → Extensions, or run `create extension pg_cron`" in err

    for action in ("status", "uninstall"):
        code, _, err = await cli(capsys, action)
        assert code == 3 and err.startswith("supabase-cron: pg_cron is not enabled in this database: enable it")
    connection = await asyncpg.connect(pg_dsn)
    try:
        assert await connection.fetchval("select to_regnamespace('vault') is null and to_regnamespace('cron') is null")
    finally:
        await connection.close()


# -- the kick ---------------------------------------------------------------

KICK_URL = "http://127.0.0.1"  # the app is reached in-process by app_client; only the path is replayed


async def kick_calls(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await connection.fetch("select * from net.calls where url like '%/api/cron/run-requests' order by id"))


async def replay(http: Any, calls: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """Each recorded pg_net call, made over HTTP against the app as pg_net's worker would make it."""
    answers = []
    for call in calls:
        headers = {**json.loads(call["headers"]), "User-Agent": PG_NET_USER_AGENT}
        response = await http.post(urlsplit(call["url"]).path, headers=headers, json=json.loads(call["body"]))
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


async def burst(dsn: str, job: str, count: int) -> None:
    """`count` request_run calls at once, each its own transaction, as an app's workers would make them."""
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    try:
        await asyncio.gather(*(pool.execute("select * from request_run($1)", job) for _ in range(count)))
    finally:
        await pool.close()


@needs_pg_cron
async def test_the_kick_calls_the_drain_at_most_once_a_second_and_every_queued_row_runs(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    pg_cron: pg_cron_server.PgCronServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await migrate(pg_cron.dsn)
    await cron_db.execute("delete from cron_run_requests")
    await cron_db.execute("update cron_kicks set last_kicked_at = '-infinity'")
    code, out, _ = await cli(capsys, "install", "--url", APP)
    assert code == 0 and "kick: installed" in out
    assert await cron_db.fetchval(
        "select prosecdef and proconfig = array['search_path=\"\"'] from pg_proc"
        " where oid = 'public.cronrelay_kick()'::regprocedure"
    )
    assert not await cron_db.fetchval("select has_function_privilege('anon', 'public.cronrelay_kick()', 'execute')")

    async with local_receiver() as (url, hits):
        await cron_db.execute("insert into cron_jobs (name, kind, target) values ('kicked-hook', 'webhook', $1)", url)
        await burst(pg_cron.dsn, "kicked-hook", 50)
        calls = await kick_calls(cron_db)
        # However many rows arrive, at most one call a second.
        assert 1 <= len(calls) <= 2
        call = calls[0]
        assert (call["method"], call["url"]) == ("POST", f"{APP}/api/cron/run-requests")
        assert json.loads(call["headers"])["Authorization"] == f"Bearer {SECRET}"
        app_settings = load_settings(
            cron_secret=SECRET,
            database_url=pg_cron.dsn,
            webhook_signing_secret="whsec-kick-0123456789",
            allow_http_webhooks=True,
            _env_file=None,
        )
        async with app_client(app_settings) as http:
            answers = await replay(http, calls)
        assert all(answer["trigger"] == "supabase-cron" for answer in answers)
        assert await cron_db.fetchval("select count(*) from cron_run_requests where status = 'done'") == 50
        assert len(hits) == 50

    # A failing kick never fails the insert: no pg_net at all, and the row is still queued.
    await cron_db.execute("update cron_kicks set last_kicked_at = '-infinity'")
    await cron_db.execute("alter function net.http_post(text, jsonb, jsonb, jsonb, int) rename to http_post_gone")
    try:
        await cron_db.execute("select * from request_run('kicked-hook')")
    finally:
        await cron_db.execute("alter function net.http_post_gone(text, jsonb, jsonb, jsonb, int) rename to http_post")
    assert await cron_db.fetchval("select count(*) from cron_run_requests where status = 'queued'") == 1

    # --no-kick removes it; a new row calls nothing.
    code, out, _ = await cli(capsys, "install", "--url", APP, "--no-kick")
    assert code == 0 and "kick: removed (--no-kick)" in out
    await cron_db.execute("update cron_kicks set last_kicked_at = '-infinity'")
    before = len(await kick_calls(cron_db))
    await cron_db.execute("select * from request_run('kicked-hook')")
    assert len(await kick_calls(cron_db)) == before

    # Installed again, then uninstall removes it (trigger and function).
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    code, out, _ = await cli(capsys, "uninstall")
    assert code == 0 and "kick removed" in out
    assert await cron_db.fetchval("select to_regprocedure('public.cronrelay_kick()')") is None
    assert await cron_db.fetchval("select count(*) from pg_trigger where tgname = 'cronrelay_kick'") == 0
    await cron_db.execute("update cron_kicks set last_kicked_at = '-infinity'")
    await cron_db.execute("select * from request_run('kicked-hook')")
    assert len(await kick_calls(cron_db)) == before


@needs_pg_cron
async def test_request_run_to_start_with_the_kick(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    pg_cron: pg_cron_server.PgCronServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The figure: request_run's commit -> the request picked up, through the pg_net stand-in replayed over HTTP.

    pg_net's own send delay (its worker polls its queue) is not in it; printed, not asserted.
    """
    await migrate(pg_cron.dsn)
    await cron_db.execute("delete from cron_run_requests")
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    app_settings = load_settings(cron_secret=SECRET, database_url=pg_cron.dsn, _env_file=None)
    samples = []
    async with app_client(app_settings) as http:
        for _ in range(9):
            await cron_db.execute("update cron_kicks set last_kicked_at = '-infinity'")
            before = await cron_db.fetchval("select coalesce(max(id), 0) from net.calls")
            committed = time.perf_counter()
            request_id = await cron_db.fetchval("select id from request_run('check-stale')")
            calls = [call for call in await kick_calls(cron_db) if call["id"] > before]
            assert len(calls) == 1
            await replay(http, calls)
            picked = await cron_db.fetchval(
                "select picked_up_at - requested_at from cron_run_requests where id = $1", request_id
            )
            assert picked is not None
            samples.append(time.perf_counter() - committed)
    p50 = statistics.median(samples) * 1000
    print(f"\nrequest_run -> start with the kick (stand-in replayed over HTTP): p50 {p50:.1f} ms")


# -- doctor's Supabase Cron lines ----------------------------------------------------

# supabase/pg_net's response table (sql/pg_net.sql): what the worker writes per answer.
PG_NET_RESPONSES = """
create table net._http_response (
    id bigserial primary key,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out bool,
    error_msg text,
    created timestamptz not null default now()
);
"""


@needs_pg_cron
async def test_doctor_has_a_line_per_installed_job_with_its_last_run(
    on_pg_cron: None,
    cron_db: asyncpg.Connection,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lib.cli.doctor import check_supabase_cron

    # Schedules the real scheduler never reaches (31 February), so the last runs are the ones written here.
    cli_env.setattr(supabase_cron, "vercel_crons", lambda: [("check-stale", "0 0 31 2 *"), ("schedule", "5 0 31 2 *")])
    assert (await cli(capsys, "install", "--url", APP))[0] == 0
    await record_run(cron_db, "cronrelay:schedule", "failed", "connection refused")
    settings = get_settings()

    lines = {line.name: line for line in await check_supabase_cron(APP, settings)}
    assert set(lines) == {
        f"supabase cron {name}" for name in ("cronrelay:check-stale", "cronrelay:schedule", PRUNE_JOB)
    }
    assert lines["supabase cron cronrelay:check-stale"].outcome == "ok"
    assert "not run yet" in lines["supabase cron cronrelay:check-stale"].detail
    failed = lines["supabase cron cronrelay:schedule"]
    assert failed.outcome == "FAIL" and failed.detail == "its last run failed (connection refused)"

    await record_run(cron_db, "cronrelay:schedule", "succeeded", "1 row")
    await cron_db.execute("select cron.alter_job(jobid, active := false) from cron.job where jobname = $1", PRUNE_JOB)
    lines = {line.name: line for line in await check_supabase_cron(APP, settings)}
    assert lines["supabase cron cronrelay:schedule"].outcome == "ok"
    assert "last run succeeded" in lines["supabase cron cronrelay:schedule"].detail
    assert (lines[f"supabase cron {PRUNE_JOB}"].outcome, lines[f"supabase cron {PRUNE_JOB}"].detail) == (
        "FAIL",
        "inactive",
    )

    # No net._http_response (this stand-in keeps none): no answers line.
    assert "supabase cron answers" not in lines

    # pg_net's own table, as its source defines it, with the answers of the last hour and older ones.
    await cron_db.execute(PG_NET_RESPONSES)
    await cron_db.execute(
        "insert into net._http_response (status_code, timed_out, error_msg, created) values"
        " (200, false, null, now()), (200, false, null, now()), (null, true, 'Timeout was reached', now()),"
        " (401, false, null, now() - interval '2 hours')"
    )
    answers = {line.name: line for line in await check_supabase_cron(APP, settings)}["supabase cron answers"]
    assert answers.outcome == "FAIL" and answers.detail.endswith("200 x2, timeout x1"), answers.line()
    await cron_db.execute("delete from net._http_response where timed_out")
    await cron_db.execute("update net._http_response set created = now() where status_code = 401")
    answers = {line.name: line for line in await check_supabase_cron(APP, settings)}["supabase cron answers"]
    assert answers.outcome == "FAIL" and "the Vault secret differs" in answers.fix, answers.line()
    await cron_db.execute("delete from net._http_response where status_code = 401")
    answers = {line.name: line for line in await check_supabase_cron(APP, settings)}["supabase cron answers"]
    assert answers.outcome == "ok" and answers.detail.endswith("200 x2")

    elsewhere = {line.name: line for line in await check_supabase_cron("https://another.example.com", settings)}
    assert elsewhere["supabase cron cronrelay:check-stale"].detail == "calls another app than --url"
    assert "supabase-cron install --url" in elsewhere["supabase cron cronrelay:check-stale"].fix
