"""`python -m lib alerts list|test`: the Alerts panel from a shell.

alerts list [--limit N] [--json]   recent alerts, each channel's delivery state and error
alerts test [--json]               send alert.test to every configured channel now, and show what came of it

Through lib/manage, as the console's panel. Exit status 1 when a test alert
could not be sent (no channel configured, or a channel refused it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from lib import manage
from lib.cli.common import FAILURES, failed, positive_int, with_database
from lib.cli.tables import Column, Record, render
from lib.db import Database
from lib.settings import get_settings

REQUESTED_BY = "cli"


def _deliveries(record: Record) -> str:
    parts = []
    for delivery in record["deliveries"]:
        state = delivery["status"]
        if delivery["status"] != "sent" and delivery["last_error"]:
            state += f" ({delivery['last_error']})"
        parts.append(f"{delivery['channel']}: {state}")
    if record["muted"]:
        return "muted"
    return "; ".join(parts) or ("not routed yet" if not record["routed"] else "no channel")


ALERT_COLUMNS = (
    Column("id", lambda r: r["id"]),
    Column("when", lambda r: r["created_at"]),
    Column("event", lambda r: r["event"] + (f" (repeat {r['repeat']})" if r["repeat"] else "")),
    Column("job", lambda r: r["job"]),
    Column("deliveries", _deliveries, width=80),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib alerts", description="cronrelay alerts")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="recent alerts with each channel's delivery state and error")
    listing.add_argument("--limit", type=positive_int, default=20, help="at most this many (max 200; default 20)")
    listing.add_argument("--json", action="store_true", help="print the page as JSON (the console API's)")
    test = actions.add_parser("test", help="send alert.test to every configured channel now")
    test.add_argument("--json", action="store_true")
    return parser


async def _list(db: Database, args: argparse.Namespace) -> tuple[str, int]:
    settings = get_settings()
    page = await manage.list_alerts(db, settings, limit=args.limit)
    if args.json:
        return json.dumps(page.model_dump(mode="json"), indent=2), 0
    channels = ", ".join(page.channels) or "none configured"
    table = render([alert.model_dump(mode="json") for alert in page.alerts], ALERT_COLUMNS)
    # Said before the table: deliveries no process here can send, before the horizon ends them.
    elsewhere = "".join(f"note: {stranded.line()}\n" for stranded in await manage.pending_unconfigured(db, settings))
    return f"channels: {channels}\n{elsewhere}{table}", 0


async def _test(db: Database, args: argparse.Namespace) -> tuple[str, int]:
    alert = await manage.send_test_alert(db, get_settings(), requested_by=REQUESTED_BY)
    failed = any(delivery.status != "sent" for delivery in alert.deliveries)
    if args.json:
        return json.dumps({"alert": alert.model_dump(mode="json")}, indent=2), int(failed)
    lines: list[Any] = [f"alert.test {alert.alert_id}"]
    for delivery in alert.deliveries:
        error = f": {delivery.last_error}" if delivery.last_error and delivery.status != "sent" else ""
        lines.append(f"  {delivery.channel:<9} {delivery.status}{error}")
    return "\n".join(lines), int(failed)


def main(argv: list[str]) -> int:
    """`alerts ...` (argv after the command); the exit status."""
    args = _parser().parse_args(argv)
    action = _test if args.action == "test" else _list
    try:
        text, status = asyncio.run(with_database(lambda db: action(db, args)))
    except FAILURES as error:
        return failed(error)
    print(text)
    return status
