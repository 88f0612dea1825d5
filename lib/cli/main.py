"""The command line: `python -m lib <command>`.

migrate                      apply migrations/ to DATABASE_URL
run <job> [--dry-run] [--limit N]
                             run a job once, print its JSON result
request <job> [--payload JSON] [--project P]
                             queue a run of a job (a run request), print its id
runs [--job J] [--limit N] [--json]
                             recent runs from the ledger, as a table (--json: full rows)
requests [list] [--status S] [--limit N] [--json]
                             run requests, newest first, as a table (--json: full rows, whole results)
requests cancel <id> | bulk retry|cancel [filters] [--dry-run] [--yes]
                             cancel one, or retry or cancel many by filter (lib/cli/run_requests.py)
local                        the local stack: embedded Postgres, app, cron runner
seed-demo [--force] [--echo-url URL]
                             fill the local database so every job has work within two minutes
supabase-cron install|status|uninstall
                             Supabase Cron (pg_cron + pg_net) as the trigger
jobs list|show|add|edit|rm|pause|resume|run
                             manage jobs (lib/cli/jobs.py; --json everywhere)
retry <request id>           retry a run request that ended in error
ops-users add|list|role|disable|enable|password
                             the console's operator accounts (lib/cli/operators.py)
workers add|list|revoke      manage outside workers and their tokens (lib/workers/cli.py)
worker --url U --token T --jobs worker.toml
                             the reference worker: run this machine's jobs (lib/workers/agent.py)
alerts list|test             recent alerts and each channel's delivery; send a test alert (lib/cli/alerts.py)
doctor --url <app> [--alerts]
                             check a deployment: one line per check, with the fix (lib/cli/doctor.py)
secrets                      print fresh CRON_SECRET and WEBHOOK_SIGNING_SECRET values
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from dataclasses import asdict
from typing import Any

from lib.cli.common import json_object, positive_int, with_database
from lib.cli.tables import requests_table, runs_table
from lib.db import DatabaseError, database_for
from lib.db.queries.run_requests import list_run_requests, request_run
from lib.db.queries.runs import list_runs
from lib.db.statuses import RequestStatus, Trigger
from lib.jobs.registry import JOBS
from lib.settings import SettingsError, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="cronrelay command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply migrations/ to DATABASE_URL and sync builtin jobs")
    run = commands.add_parser("run", help="run a job once and print its JSON result")
    run.add_argument("job", choices=sorted(JOBS))
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--limit", type=positive_int)
    request = commands.add_parser("request", help="queue a run of a job (a run request) and print its id")
    request.add_argument("job", help="the job's name in cron_jobs (builtin jobs are named after their route)")
    request.add_argument("--payload", type=json_object, help="a JSON object for the job; overrides the job's payload")
    request.add_argument("--project", default="default", help="the job's project (default: %(default)s)")
    runs = commands.add_parser("runs", help="recent runs from the ledger, as a table")
    runs.add_argument("--job", help="only this job's runs")
    runs.add_argument("--limit", type=positive_int, default=20, help="at most this many rows (default: %(default)s)")
    runs.add_argument("--json", action="store_true", help="print the full rows as one JSON array instead")
    requests = commands.add_parser(
        "requests",
        help="run requests, newest first, as a table; also cancel, and bulk retry|cancel",
        epilog="requests list takes the same options; requests cancel <id> and requests bulk retry|cancel "
        "have their own --help",
    )
    requests.add_argument("--status", choices=[str(status) for status in RequestStatus])
    requests.add_argument(
        "--limit", type=positive_int, default=20, help="at most this many rows (default: %(default)s)"
    )
    requests.add_argument(
        "--json", action="store_true", help="print the full rows (whole results and errors) as one JSON array"
    )
    local = commands.add_parser("local", help="embedded Postgres + app on 127.0.0.1 + local cron runner")
    local.add_argument("--port", type=int, default=3000)
    local.add_argument("--no-cron", action="store_true", help="do not fire vercel.json crons")
    demo = commands.add_parser("seed-demo", help="fill the local database so every job has work within two minutes")
    demo.add_argument("--force", action="store_true", help="seed a database that is not on this machine anyway")
    demo.add_argument("--echo-url", help="where the demo webhook jobs post (default: the local stack's echo)")
    # Listed for --help; its own parser (lib/cli/supabase_cron.py) reads its arguments.
    commands.add_parser("supabase-cron", help="install, show or remove Supabase Cron jobs that call the routes")
    # Listed for --help; lib/cli/jobs.py parses their arguments.
    commands.add_parser("jobs", help="list, show, add, edit, rm, pause, resume or run jobs")
    commands.add_parser("retry", help="retry a run request that ended in error")
    commands.add_parser("ops-users", help="the console's operators: add, list, role, disable, enable, password")
    # Listed for --help; lib/workers/ parses their arguments.
    commands.add_parser("workers", help="add, list or revoke outside workers")
    commands.add_parser("worker", help="run the reference worker: this machine's jobs from worker.toml")
    commands.add_parser("alerts", help="recent alerts and their deliveries (list), or send a test alert (test)")
    # Listed for --help; lib/cli/doctor.py parses its arguments.
    commands.add_parser("doctor", help="check a deployment from outside: one line per check, with the fix")
    commands.add_parser("secrets", help="print fresh CRON_SECRET and WEBHOOK_SIGNING_SECRET values")
    return parser


async def _migrate() -> int:
    import psycopg

    from lib.migrate import MigrationError, MigrationFailed, migrate
    from lib.pgconn import error_text

    settings = get_settings()
    if settings.database_url is None:
        raise SettingsError("DATABASE_URL is not set (migrate talks to Postgres directly)")
    try:
        applied = await migrate(settings.database_url.get_secret_value())
    except MigrationError as error:
        # An edited versioned file or an unknown old layout: one line, not a traceback.
        print(f"migrate refused: {error}", file=sys.stderr)
        return 4
    except MigrationFailed as error:
        print(f"database error: migrate failed at {_one_line(settings.redact(str(error)))}", file=sys.stderr)
        return 3
    except (OSError, psycopg.Error) as error:
        if isinstance(error, psycopg.Error) and error.sqlstate:
            print(f"database error: migrate failed: {_one_line(settings.redact(error_text(error)))}", file=sys.stderr)
        else:
            # The class only: a connection error's text names the host and port.
            reason = type(error).__name__
            print(f"database error: migrate could not reach the database at DATABASE_URL ({reason})", file=sys.stderr)
        return 3
    print(json.dumps({"applied": applied}))
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


async def _run(name: str, dry_run: bool, limit: int | None) -> int:
    from lib.runner import run_job

    settings = get_settings()
    job = JOBS[name]
    problem = job.config_problem(settings)
    if problem:
        raise SettingsError(problem)
    db = database_for(settings)
    try:
        # The run's own log line goes to stderr here, so stdout is exactly one
        # JSON document (the result) that a script can parse.
        with contextlib.redirect_stdout(sys.stderr):
            report = await run_job(
                job, db=db, settings=settings, trigger=Trigger.CLI, dry_run=dry_run, limit=limit, jobs=JOBS
            )
    finally:
        # asyncio.run closes the loop next; its connections go with it, not at exit.
        await db.close()
    print(json.dumps(report.body(), default=str))
    return 1 if report.status == "error" else 0


async def _request(job: str, payload: dict[str, Any] | None, project: str) -> int:
    # One key per command: if the adapter retries a call that had committed, the
    # repeat returns this request instead of queueing a second one.
    requested = await with_database(
        lambda db: request_run(
            db, job_name=job, project_id=project, requested_by="cli", payload=payload, dedup_key=f"cli:{uuid.uuid4()}"
        )
    )
    # request_run names its output column `project` (its argument holds `project_id`).
    request = asdict(requested)
    request["project_id"] = request.pop("project")
    print(json.dumps({"job": job, **request}))
    return 0


async def _runs(job: str | None, limit: int, as_json: bool) -> int:
    rows = await with_database(lambda db: list_runs(db, job=job, limit=limit))
    print(json.dumps([asdict(row) for row in rows], indent=2, default=str) if as_json else runs_table(rows))
    return 0


async def _requests(status: str | None, limit: int, as_json: bool) -> int:
    wanted = RequestStatus(status) if status else None
    rows = await with_database(lambda db: list_run_requests(db, status=wanted, limit=limit))
    print(json.dumps([asdict(row) for row in rows], indent=2, default=str) if as_json else requests_table(rows))
    return 0


# Commands that take the running local stack's database when none is configured (lib/cli/discovery.py).
ON_A_DATABASE = (
    "migrate",
    "run",
    "request",
    "runs",
    "requests",
    "seed-demo",
    "jobs",
    "retry",
    "doctor",
    "ops-users",
    "workers",
    "alerts",
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in ON_A_DATABASE and not {"-h", "--help"} & set(argv):
        from lib.cli.discovery import checks_this_machine, use_local_stack

        if checks_this_machine(argv):
            use_local_stack()
    if argv[:1] in (["jobs"], ["retry"]):
        from lib.cli.jobs import main as jobs

        return jobs(argv)
    if argv[:1] == ["requests"] and argv[1:2] in (["cancel"], ["bulk"]):
        from lib.cli.run_requests import main as run_requests

        return run_requests(argv[1:])
    if argv[:2] == ["requests", "list"]:
        # `requests list` is the bare `requests`, which docs and scripts already run.
        argv = ["requests", *argv[2:]]
    if argv[:1] == ["ops-users"]:
        from lib.cli.operators import main as operators

        return operators(argv[1:])
    if argv[:1] == ["workers"]:
        from lib.workers.cli import main as workers

        return workers(argv[1:])
    if argv[:1] == ["worker"]:
        from lib.workers.agent import main as worker

        return worker(argv[1:])
    if argv[:1] == ["alerts"]:
        from lib.cli.alerts import main as alerts

        return alerts(argv[1:])
    if argv[:1] == ["doctor"]:
        from lib.cli.doctor import main as doctor

        return doctor(argv[1:])
    if argv[:1] == ["secrets"]:
        from lib.cli.secrets import main as fresh_secrets

        return fresh_secrets()
    if argv[:1] == ["supabase-cron"]:
        from lib.cli.supabase_cron import main as supabase_cron

        return supabase_cron(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "run":
            return asyncio.run(_run(args.job, args.dry_run, args.limit))
        if args.command == "request":
            return asyncio.run(_request(args.job, args.payload, args.project))
        if args.command == "runs":
            return asyncio.run(_runs(args.job, args.limit, args.json))
        if args.command == "requests":
            return asyncio.run(_requests(args.status, args.limit, args.json))
        if args.command == "local":
            from lib.local.stack import serve_local

            return serve_local(port=args.port, cron=not args.no_cron)
        if args.command == "seed-demo":
            from lib.local.demo import seed_demo_command

            return asyncio.run(seed_demo_command(force=args.force, echo_url=args.echo_url))
    except SettingsError as error:
        from lib.cli.discovery import with_hint

        print(f"configuration error: {with_hint(error)}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        print(f"database error: {error}", file=sys.stderr)
        return 3
    return 0
