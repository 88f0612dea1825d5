"""`python -m lib supabase-cron install|status|uninstall`: Supabase Cron (pg_cron + pg_net) as the trigger.

Vercel's Hobby plan runs a cron at most once a day; Supabase Cron runs every
minute on every plan. `install` schedules one pg_cron job named
`cronrelay:<job>` per `vercel.json` cron, on the same schedule, whose command
is a pg_net `net.http_get` of `<url>/api/cron/<job>`. The bearer secret lives
in Supabase Vault and is read by the command at run time, so `cron.job.command`
never holds it in clear. `install --print` writes the same SQL for Supabase's
SQL editor, with a placeholder where the secret goes.

It also installs the kick (`--no-kick` leaves it out; lib/cli/supabase_kick.py):
an insert into `public.cron_run_requests` calls `/api/cron/run-requests` at
once through pg_net, at most once a second.

This is the one place the service talks to schemas it does not own (`cron`,
`net`, `vault`) rather than to its own SQL functions; the statements are in
lib/cli/supabase_sql.py, as module-level text instead of migrations: they
belong to the user's Supabase project, not to the service's schema. This
module plans the jobs, runs the statements and is the command line; the
names the other two define are importable from here too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg

from lib import pgconn
from lib.cli.supabase_kick import DROP_KICK, HAS_KICK, KICK_PATH, install_kick, kick_statements, remove_kick
from lib.cli.supabase_sql import (
    ANSWERS,
    CREATE_SECRET,
    DELETE_SECRET,
    ENABLE_HINT,
    ENSURE_PG_CRON,
    ENSURE_PG_NET,
    HAS_HTTP_GET,
    HAS_VAULT,
    JOB_PREFIX,
    MAX_JOB_NAME,
    MIN_PG_CRON,
    PG_CRON_VERSION,
    PRUNE_COMMAND,
    SCHEDULE,
    SECRET_DESCRIPTION,
    SECRET_EXISTS,
    SECRET_STATE,
    STATUS,
    UNSCHEDULE_ALL,
    UNSCHEDULE_STALE,
    UPDATE_SECRET,
    connect,
    database_error,
    dollar_quoted,
    http_get_command,
    literal,
    render_statement,
    timeout_milliseconds,
)

# Imported from here by tests and doctor.
from lib.cli.supabase_sql import PRUNE_JOB as PRUNE_JOB
from lib.cli.supabase_sql import PRUNE_SCHEDULE as PRUNE_SCHEDULE
from lib.cli.supabase_sql import SECRET_NAME as SECRET_NAME
from lib.cli.supabase_sql import SECRET_PLACEHOLDER as SECRET_PLACEHOLDER
from lib.cli.supabase_sql import SupabaseCronError as SupabaseCronError
from lib.cli.tables import Column, render
from lib.migrate import vercel_crons
from lib.pgconn import Connection
from lib.settings import MIN_SECRET_LENGTH, Settings, SettingsError, get_settings


@dataclass(frozen=True)
class CronJob:
    name: str
    schedule: str
    command: str
    url: str | None = None


# -- the plan ---------------------------------------------------------------


def target_url(raw: str, allow_http: bool) -> str:
    """The app's base URL, checked and without a trailing slash; the error never repeats the URL."""
    text = raw.strip()
    hint = "--url must be the app's base URL, such as https://my-app.vercel.app"
    try:
        parsed = urlsplit(text)
        parsed.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        raise SupabaseCronError(f"{hint} (it is not a valid URL)") from None
    if parsed.scheme == "http":
        if not (allow_http and parsed.hostname in ("localhost", "127.0.0.1")):
            raise SupabaseCronError(
                "--url must use https:// (plain http:// only for localhost or 127.0.0.1 with ALLOW_HTTP_WEBHOOKS=true)"
            )
    elif parsed.scheme != "https":
        raise SupabaseCronError(f"{hint} (https:// and a host)")
    if not parsed.hostname:
        raise SupabaseCronError(f"{hint} (it has no host)")
    if parsed.username is not None or parsed.password is not None:
        raise SupabaseCronError("--url must not carry credentials; the bearer secret comes from Vault")
    if parsed.query or parsed.fragment or text.endswith(("?", "#")):
        raise SupabaseCronError(f"{hint}, without a query or fragment")
    # Quotes, backslashes and spaces have no place in a base URL, and keeping them
    # out means the URL is plain text inside the pg_cron command.
    if any(c.isspace() or c in "'\"\\$`<>{}|^" or not c.isprintable() for c in text):
        raise SupabaseCronError(f"{hint} (it contains a character a URL cannot hold)")
    path = parsed.path.rstrip("/")
    if "//" in path:
        raise SupabaseCronError(f"{hint} (its path has an empty segment, '//')")
    if path == "/api" or path.endswith(("/api/cron", "/api")):
        raise SupabaseCronError(f"{hint}, without /api or /api/cron: install adds /api/cron/<job> itself")
    return f"{parsed.scheme}://{parsed.netloc}{path}"


def planned_jobs(base_url: str, settings: Settings, crons: Sequence[tuple[str, str]] | None = None) -> list[CronJob]:
    """One `cronrelay:<job>` per vercel.json cron, then the job that prunes pg_cron's own history."""
    crons = vercel_crons() if crons is None else crons
    if not crons:
        # Going ahead would unschedule every job an earlier install made.
        raise SupabaseCronError("vercel.json has no crons: there is nothing to schedule")
    timeout = timeout_milliseconds(settings)
    jobs = []
    for job, schedule in crons:
        name = f"{JOB_PREFIX}{job}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", job) or len(name) > MAX_JOB_NAME:
            raise SupabaseCronError(f"vercel.json has a cron path whose job name cannot be a pg_cron job name: {job}")
        url = f"{base_url}/api/cron/{job}"
        jobs.append(CronJob(name, schedule, http_get_command(url, timeout), url))
    jobs.append(CronJob(PRUNE_JOB, PRUNE_SCHEDULE, PRUNE_COMMAND))
    return jobs


def install_sql(
    base_url: str, settings: Settings, crons: Sequence[tuple[str, str]] | None = None, *, kick: bool = True
) -> str:
    """What `install` does, as one script for Supabase's SQL editor; the secret is a placeholder."""
    jobs = planned_jobs(base_url, settings, crons)
    budget = f"{settings.run_time_budget_seconds:g}"
    lines = [
        f"-- cronrelay: Supabase Cron as the trigger, calling {base_url}/api/cron/<job>",
        "-- Made by `python -m lib supabase-cron install --print`. Run it in Supabase's SQL editor,",
        f"-- after replacing {SECRET_PLACEHOLDER} below with the value of CRON_SECRET.",
        "-- Running it again is safe: jobs are updated in place.",
        "begin;",
        "",
        "-- pg_cron runs the jobs; pg_net makes their HTTP calls.",
        f"{ENSURE_PG_CRON};",
        f"{ENSURE_PG_NET};",
        "",
        "-- The bearer secret lives in Vault; the jobs read it when they run, so cron.job never holds it.",
        "-- An existing secret is kept. To change it later, run:",
        "--   " + render_statement(UPDATE_SECRET, literal("<your new CRON_SECRET>"), literal(SECRET_NAME)) + ";",
        render_statement(CREATE_SECRET, literal(SECRET_PLACEHOLDER), literal(SECRET_NAME), literal(SECRET_DESCRIPTION))
        + ";",
        "",
        "-- One job per vercel.json cron, on the same schedule (UTC).",
        f"-- pg_net's timeout ({timeout_milliseconds(settings)} ms) is above the run budget"
        f" (RUN_TIME_BUDGET_SECONDS={budget}).",
    ]
    for job in jobs:
        if job.name == PRUNE_JOB:
            lines += ["", "-- pg_cron never deletes its own run history: keep 7 days of cron.job_run_details."]
        lines.append(
            render_statement(SCHEDULE, literal(job.name), literal(job.schedule), dollar_quoted(job.command)) + ";"
        )
    names = "array[" + ", ".join(literal(job.name) for job in jobs) + "]"
    lines += [
        "",
        "-- Jobs an earlier install made for crons that vercel.json no longer has.",
        render_statement(UNSCHEDULE_STALE, names) + ";",
        "",
    ]
    if kick:
        lines += [
            f"-- The kick: an insert into cron_run_requests calls {base_url}{KICK_PATH} at once",
            "-- (at most once a second), so request_run does not wait for the next minute.",
            *(statement + ";" for statement in kick_statements(base_url, settings)),
        ]
    else:
        lines += ["-- No kick (--no-kick): queued requests wait for the next run-requests tick.", DROP_KICK + ";"]
    lines += ["", "commit;"]
    return "\n".join(lines) + "\n"


# -- talking to the database ------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


async def _require_pg_cron(connection: Connection) -> str:
    version: str | None = await pgconn.fetchval(connection, PG_CRON_VERSION)
    if version is None:
        raise SupabaseCronError(
            "pg_cron is not enabled in this database: " + ENABLE_HINT.format("pg_cron"), exit_code=3
        )
    if _version(version) < MIN_PG_CRON:
        raise SupabaseCronError(
            f"pg_cron {version} is too old: named jobs need 1.3 or later (`alter extension pg_cron update`)",
            exit_code=3,
        )
    return version


@dataclass(frozen=True)
class InstallResult:
    pg_cron: str
    secret: str  # created, updated or unchanged
    scheduled: list[CronJob]
    unscheduled: list[str]
    # installed, left out (--no-kick), or why it could not be
    kick: str = "left out (--no-kick)"


async def install(base_url: str, settings: Settings, *, kick: bool = True) -> InstallResult:
    secret = settings.cron_secret.get_secret_value() if settings.cron_secret else ""
    if len(secret) < MIN_SECRET_LENGTH:
        raise SupabaseCronError(
            f"CRON_SECRET is not set or shorter than {MIN_SECRET_LENGTH} characters:"
            " install stores it in Vault for Supabase Cron to send"
        )
    jobs = planned_jobs(base_url, settings)
    connection = await connect(settings)
    try:
        # One transaction: a failure part-way leaves the earlier install as it was.
        async with connection.transaction():
            version = await _ensure_extensions(connection, settings)
            state = await _store_secret(connection, secret)
            for job in jobs:
                try:
                    await pgconn.execute(connection, SCHEDULE, job.name, job.schedule, job.command)
                except psycopg.Error as error:
                    raise database_error(settings, f"pg_cron refused {job.name}", error) from None
            stale = await pgconn.fetch(connection, UNSCHEDULE_STALE, [job.name for job in jobs])
            kicked = await install_kick(connection, base_url, settings) if kick else await remove_kick(connection)
    except psycopg.Error as error:
        raise database_error(settings, "install failed", error) from None
    finally:
        await connection.close()
    return InstallResult(version, state, jobs, [row["jobname"] for row in stale], kicked)


async def _ensure_extensions(connection: Connection, settings: Settings) -> str:
    try:
        async with connection.transaction():
            await pgconn.execute(connection, ENSURE_PG_CRON)
    except psycopg.Error as error:
        problem = settings.redact(" ".join(pgconn.error_text(error).split()))
        raise SupabaseCronError(
            f"pg_cron is not available ({problem}): " + ENABLE_HINT.format("pg_cron"), exit_code=3
        ) from None
    version = await _require_pg_cron(connection)
    if not await pgconn.fetchval(connection, HAS_HTTP_GET):
        try:
            async with connection.transaction():
                await pgconn.execute(connection, ENSURE_PG_NET)
        except psycopg.Error as error:
            problem = settings.redact(" ".join(pgconn.error_text(error).split()))
            raise SupabaseCronError(
                f"pg_net is not available ({problem}): " + ENABLE_HINT.format("pg_net"), exit_code=3
            ) from None
    if not await pgconn.fetchval(connection, HAS_VAULT):
        raise SupabaseCronError(
            "Supabase Vault is not available (no vault.create_secret): enable `supabase_vault`"
            " in Supabase Dashboard → Database → Extensions",
            exit_code=3,
        )
    return version


async def _store_secret(connection: Connection, secret: str) -> str:
    row = await pgconn.fetchrow(connection, SECRET_STATE, secret, SECRET_NAME)
    if row is None:
        await pgconn.execute(connection, CREATE_SECRET, secret, SECRET_NAME, SECRET_DESCRIPTION)
        return "created"
    if not row["same"]:
        await pgconn.execute(connection, UPDATE_SECRET, secret, SECRET_NAME)
        return "updated"
    return "unchanged"


async def status(settings: Settings) -> list[dict[str, Any]]:
    connection = await connect(settings)
    try:
        await _require_pg_cron(connection)
        rows = await pgconn.fetch(connection, STATUS)
    except psycopg.Error as error:
        raise database_error(settings, "could not read cron.job", error) from None
    finally:
        await connection.close()
    return [
        {
            "job": row["jobname"],
            "jobid": row["jobid"],
            "schedule": row["schedule"],
            "active": row["active"],
            "url": _called_url(row["command"]),
            "last_run": None
            if row["status"] is None
            else {
                "status": row["status"],
                "start_time": _iso(row["start_time"]),
                "end_time": _iso(row["end_time"]),
                "return_message": row["return_message"],
            },
        }
        for row in rows
    ]


async def recent_answers(settings: Settings) -> dict[str, int] | None:
    """pg_net's answers of the last hour by status (for `doctor`); None where pg_net keeps no answers."""
    connection = await connect(settings)
    try:
        if not await pgconn.fetchval(connection, "select to_regclass('net._http_response') is not null"):
            return None
        rows = await pgconn.fetch(connection, ANSWERS)
    except psycopg.Error as error:
        raise database_error(settings, "could not read net._http_response", error) from None
    finally:
        await connection.close()
    return {str(row["answer"]): int(row["calls"]) for row in rows}


def _iso(moment: datetime | None) -> str | None:
    # In UTC whatever the session's TimeZone: psycopg answers in the session's zone.
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _called_url(command: str) -> str | None:
    match = re.match(r"select net\.http_get\(url := '([^']*)'", command)
    return match[1] if match else None


@dataclass(frozen=True)
class UninstallResult:
    unscheduled: list[str]
    secret: str  # removed, kept (not ours) or absent
    kick: bool = False  # the kick was there and is removed


async def uninstall(settings: Settings) -> UninstallResult:
    connection = await connect(settings)
    try:
        await _require_pg_cron(connection)
        async with connection.transaction():
            removed = await pgconn.fetch(connection, UNSCHEDULE_ALL)
            kicked = bool(await pgconn.fetchval(connection, HAS_KICK))
            await pgconn.execute(connection, DROP_KICK)
            secret = "absent"
            if await pgconn.fetchval(connection, HAS_VAULT):
                if await pgconn.fetch(connection, DELETE_SECRET, SECRET_NAME, SECRET_DESCRIPTION):
                    secret = "removed"
                elif await pgconn.fetchval(connection, SECRET_EXISTS, SECRET_NAME):
                    secret = "kept (not made by install)"
    except psycopg.Error as error:
        raise database_error(settings, "uninstall failed", error) from None
    finally:
        await connection.close()
    return UninstallResult([row["jobname"] for row in removed], secret, kicked)


# -- the command line -------------------------------------------------------

STATUS_COLUMNS = (
    Column("job", lambda r: r["job"]),
    Column("schedule", lambda r: r["schedule"]),
    Column("active", lambda r: r["active"]),
    Column("last run", lambda r: r["last_run"] and r["last_run"]["status"]),
    Column("started", lambda r: r["last_run"] and r["last_run"]["start_time"]),
    Column("message", lambda r: r["last_run"] and r["last_run"]["return_message"], width=50),
)


def status_table(rows: Sequence[dict[str, Any]]) -> str:
    return render(rows, STATUS_COLUMNS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lib supabase-cron",
        description="Supabase Cron (pg_cron + pg_net) as the trigger for vercel.json's crons, through DATABASE_URL",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    install_ = actions.add_parser("install", help="schedule one cronrelay:<job> per vercel.json cron (idempotent)")
    install_.add_argument("--url", required=True, help="the app's base URL, such as https://my-app.vercel.app")
    install_.add_argument(
        "--print", dest="print_sql", action="store_true", help="print the SQL for Supabase's SQL editor instead"
    )
    install_.add_argument(
        "--no-kick",
        dest="kick",
        action="store_false",
        help="leave out the kick (an insert into cron_run_requests calls the drain at once); removes an earlier one",
    )
    status_ = actions.add_parser("status", help="the cronrelay:* jobs, their schedules and last runs")
    status_.add_argument("--json", action="store_true", help="print one JSON array instead of a table")
    actions.add_parser(
        "uninstall", help="unschedule the cronrelay:* jobs (nothing else), remove the kick and the Vault secret"
    )
    return parser


async def _install(url: str, print_sql: bool, kick: bool) -> int:
    settings = get_settings()
    base_url = target_url(url, settings.allow_http_webhooks)
    if print_sql:
        print(install_sql(base_url, settings, kick=kick), end="")
        return 0
    result = await install(base_url, settings, kick=kick)
    print(f"pg_cron {result.pg_cron}; Vault secret {SECRET_NAME}: {result.secret}")
    print(render([job.__dict__ for job in result.scheduled], _INSTALL_COLUMNS))
    if result.unscheduled:
        print(f"unscheduled (no longer in vercel.json): {', '.join(result.unscheduled)}")
    print(f"kick: {result.kick}")
    return 0


_INSTALL_COLUMNS = (
    Column("job", lambda r: r["name"]),
    Column("schedule", lambda r: r["schedule"]),
    Column("calls", lambda r: r["url"] or "(prunes cron.job_run_details)", width=80),
)


async def _status(as_json: bool) -> int:
    rows = await status(get_settings())
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    elif rows:
        print(status_table(rows))
    else:
        print("(none) — no cronrelay:* jobs; run `python -m lib supabase-cron install --url https://<app>`")
    return 0


async def _uninstall() -> int:
    result = await uninstall(get_settings())
    if result.unscheduled:
        print(f"unscheduled {len(result.unscheduled)} jobs: {', '.join(result.unscheduled)}")
    else:
        print("no cronrelay:* jobs were scheduled")
    if result.kick:
        print("kick removed")
    print(f"Vault secret {SECRET_NAME}: {result.secret}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action == "install":
            return asyncio.run(_install(args.url, args.print_sql, args.kick))
        if args.action == "status":
            return asyncio.run(_status(args.json))
        return asyncio.run(_uninstall())
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except SupabaseCronError as error:
        print(f"supabase-cron: {error}", file=sys.stderr)
        return error.exit_code
