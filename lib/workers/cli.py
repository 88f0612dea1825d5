"""`python -m lib workers add|list|revoke`: managing workers from a shell.

workers add <name> [--project P]      prints the new worker's crw_ token once (stdout), the worker on stderr
workers list [--project P] [--json]
workers revoke <name or id> [--project P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from lib.cli.common import FAILURES, failed, with_database
from lib.workers import manage


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib workers", description="add, list or revoke workers")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a worker and print its token (shown this once)")
    add.add_argument("name")
    add.add_argument("--project", default="default", help="the worker's project (default: %(default)s)")
    listing = actions.add_parser("list", help="every worker, with when it was last seen")
    listing.add_argument("--project", help="only this project's workers")
    listing.add_argument("--json", action="store_true", help="print the Worker objects as one JSON array")
    revoke = actions.add_parser("revoke", help="refuse a worker's token from its next call on")
    revoke.add_argument("worker", help="its name (in --project) or its id")
    revoke.add_argument("--project", default="default", help="the worker's project (default: %(default)s)")
    return parser


def _state(worker: dict[str, Any]) -> str:
    if worker.get("disabled_at"):
        return "revoked"
    return "online" if worker.get("online") else "offline"


def _table(workers: list[dict[str, Any]]) -> str:
    if not workers:
        return "no workers yet: python -m lib workers add <name> --project <project>"
    rows = [("worker", "state", "last seen (UTC)", "jobs")]
    for worker in workers:
        name = worker["name"] if worker["project_id"] == "default" else f"{worker['project_id']}/{worker['name']}"
        rows.append((name, _state(worker), str(worker.get("last_seen_at") or "never"), str(worker.get("jobs", 0))))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


async def _run(args: argparse.Namespace) -> int:
    if args.action == "add":
        added = await with_database(lambda db: manage.add_worker(db, name=args.name, project=args.project))
        print(f"added worker {args.project}/{args.name}; its token is shown this once:", file=sys.stderr)
        print(added.token)
        return 0
    if args.action == "list":
        workers = await with_database(lambda db: manage.list_workers(db, project=args.project))
        print(json.dumps(workers, indent=2) if args.json else _table(workers))
        return 0
    worker = await with_database(lambda db: manage.revoke_worker(db, args.worker, project=args.project))
    print(f"revoked worker {worker['project_id']}/{worker['name']}: its token is refused from now on")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except FAILURES as error:
        return failed(error)
