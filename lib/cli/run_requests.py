"""`python -m lib requests cancel|bulk ...`: the console's cancel and bulk actions from a shell.

requests cancel <request id> [--json]
    end a queued (or held) request: `error`, result.error "cancelled by cli"
requests bulk retry|cancel [--project P] [--job J] [--status S] [--since T] [--until T]
                           [--dry-run] [--yes] [--json]
    retry every request that ended error (and has no retry yet), or cancel
    every queued one, that matches; --dry-run only counts

The bare `requests` (and `requests list`) listing stays in lib/cli/main.py.
Every action goes through lib/manage with the console's SQL (ops_cancel_request,
ops_bulk_requests) and rules, acting as the CLI, so each write is in ops_audit
as `cli`. A refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from uuid import UUID

from lib import manage
from lib.cli.common import FAILURES, failed, with_database
from lib.cli.tables import REQUEST_COLUMNS, render
from lib.clock.schedules import ScheduleError, parse_interval
from lib.db import Database
from lib.db.queries.request_history import BulkAction
from lib.db.statuses import RequestStatus

# More matches than this need --yes: a typo in a filter must not retry thousands.
CONFIRM_ABOVE = 20

_PAST = {"retry": "retried", "cancel": "cancelled"}


def instant(text: str) -> datetime:
    """An ISO 8601 instant with a time zone, or a duration (30m, 2h, 1d) meaning that long ago."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return datetime.now(UTC) - parse_interval(text)
        except ScheduleError:
            raise argparse.ArgumentTypeError(
                "must be an ISO 8601 instant with a time zone (2026-12-01T00:00:00Z) or a duration ago (30m, 2h, 1d)"
            ) from None
    if moment.tzinfo is None:
        # A bare wall time is ambiguous on a machine whose zone differs from the operator's.
        raise argparse.ArgumentTypeError("needs a time zone, such as 2026-12-01T00:00:00Z or +02:00")
    return moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib requests", description="cronrelay run requests")
    actions = parser.add_subparsers(dest="action", required=True)

    cancel = actions.add_parser("cancel", help="cancel a queued (or held) run request; a running one is not stopped")
    cancel.add_argument("request_id", help="the request's id (a UUID, as `requests` lists them)")
    cancel.add_argument("--json", action="store_true", help="print the request as the console API's object")

    bulk = actions.add_parser("bulk", help="retry or cancel every run request a filter matches")
    bulk.add_argument("bulk_action", metavar="retry|cancel", choices=("retry", "cancel"))
    bulk.add_argument("--project", help="only this project's requests (default: every project)")
    bulk.add_argument("--job", help="only this job's requests: its name (in --project, else 'default') or its id")
    bulk.add_argument(
        "--status",
        choices=[str(status) for status in RequestStatus],
        help="retry takes error requests, cancel queued ones; another status is refused",
    )
    bulk.add_argument("--since", type=instant, help="requested at or after this instant, or this long ago (2h)")
    bulk.add_argument("--until", "--before", type=instant, help="requested before this instant, or this long ago")
    bulk.add_argument("--dry-run", action="store_true", help="only count what would change")
    bulk.add_argument("--yes", action="store_true", help=f"go ahead when more than {CONFIRM_ABOVE} requests match")
    bulk.add_argument("--json", action="store_true", help="print the result as the console API's object")
    return parser


def request_id(text: str) -> UUID:
    """The id as a UUID; anything else is refused before the database is asked."""
    try:
        return UUID(text)
    except ValueError:
        raise manage.ManageError(
            "a run request's id is a UUID, as `python -m lib requests` lists them", status=422, field="request id"
        ) from None


async def _cancel(db: Database, args: argparse.Namespace) -> str:
    cancelled = await manage.cancel_request(db, request_id(str(args.request_id)), by=manage.CLI.requested_by)
    if args.json:
        return json.dumps({"request": cancelled.model_dump(mode="json")}, indent=2)
    return render([cancelled.model_dump(mode="json")], REQUEST_COLUMNS)


async def _bulk(db: Database, args: argparse.Namespace) -> str:
    action: BulkAction = args.bulk_action
    job_id = None
    if args.job is not None:
        job_id = (await manage.find_job(db, args.job, project=args.project or "default")).id

    async def bulk(*, dry_run: bool) -> manage.BulkResult:
        return await manage.bulk_requests(
            db,
            action,
            by=manage.CLI.requested_by,
            project=args.project,
            job_id=job_id,
            status=args.status,
            since=args.since,
            until=args.until,
            dry_run=dry_run,
        )

    if not (args.dry_run or args.yes):
        # Counted first, like the console's confirm step; a dry run writes nothing, not even an audit row.
        counted = await bulk(dry_run=True)
        if counted.matched > CONFIRM_ABOVE:
            raise manage.ManageError(
                f"{_requests(counted.matched)} match, more than {CONFIRM_ABOVE}: add --yes to {action} them "
                "(--dry-run counts without changing anything)",
                status=409,
            )
    result = await bulk(dry_run=args.dry_run)
    return json.dumps(result.model_dump(mode="json"), indent=2) if args.json else _bulk_text(result)


def _bulk_text(result: manage.BulkResult) -> str:
    if not result.matched:
        return f"no run request to {result.action} matches (nothing changed)"
    if result.dry_run:
        return f"{_requests(result.matched)} would be {_PAST[result.action]} (dry run: nothing changed)"
    text = f"{_PAST[result.action]} {_requests(result.done)}"
    if result.has_more:
        # One call changes a bounded batch (each stays inside PostgREST's statement timeout).
        text += f"; {result.matched - result.done} more matched: run the command again for the next batch"
    return text


def _requests(count: int) -> str:
    return f"{count} run request{'' if count == 1 else 's'}"


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments after `requests`; argparse exits with status 2 on a malformed line."""
    return _parser().parse_args(argv)


async def answer(db: Database, args: argparse.Namespace) -> str:
    """What the command prints, acting through `db` (raises what FAILURES holds on a refusal)."""
    if args.action == "cancel":
        return await _cancel(db, args)
    return await _bulk(db, args)


def main(argv: list[str]) -> int:
    """`requests cancel|bulk ...` (argv after `requests`); the exit status."""
    args = parse(argv)
    try:
        if args.action == "cancel":
            # Checked before a database is opened: a mistyped id needs no connection to refuse.
            args.request_id = request_id(args.request_id)
        print(asyncio.run(with_database(lambda db: answer(db, args))))
    except FAILURES as error:
        return failed(error)
    return 0
