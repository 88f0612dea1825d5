"""The command line: `python -m lib <command>`.

  migrate                      apply migrations/ to DATABASE_URL
  run <job> [--dry-run] [--limit N]
                               run a job once, print its JSON result
  local                        the local stack: embedded Postgres, app, cron runner
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from lib.db import DatabaseError, database_for
from lib.jobs import JOBS
from lib.settings import SettingsError, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="cronrelay command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply migrations/ to DATABASE_URL and sync builtin jobs")
    run = commands.add_parser("run", help="run a job once and print its JSON result")
    run.add_argument("job", choices=sorted(JOBS))
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--limit", type=_positive_int)
    local = commands.add_parser("local", help="embedded Postgres + app on 127.0.0.1 + local cron runner")
    local.add_argument("--port", type=int, default=3000)
    local.add_argument("--no-cron", action="store_true", help="do not fire vercel.json crons")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


async def _migrate() -> int:
    from lib.migrate import migrate

    settings = get_settings()
    if settings.database_url is None:
        raise SettingsError("DATABASE_URL is not set (migrate talks to Postgres directly)")
    applied = await migrate(settings.database_url.get_secret_value())
    print(json.dumps({"applied": applied}))
    return 0


async def _run(name: str, dry_run: bool, limit: int | None) -> int:
    from lib.runner import run_job

    settings = get_settings()
    job = JOBS[name]
    problem = job.config_problem(settings)
    if problem:
        raise SettingsError(problem)
    report = await run_job(
        job, db=database_for(settings), settings=settings, trigger="cli", dry_run=dry_run, limit=limit
    )
    print(json.dumps(report.body(), default=str))
    return 1 if report.status == "error" else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "run":
            return asyncio.run(_run(args.job, args.dry_run, args.limit))
        if args.command == "local":
            from lib.local import serve_local

            return serve_local(port=args.port, cron=not args.no_cron)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        print(f"database error: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
