"""`python -m lib seed-demo`: give every job something to do within two minutes of `python3 dev.py local`.

Dev-only (lib/local is in .vercelignore). The rows come from one SQL function,
lib/local/demo_seed.sql, created in pg_temp for the seeding connection and run
in one transaction: stale and fresh agents, heartbeats past retention, due
reminders, a webhook job every minute and a `once` job two minutes out (both
posting to the local stack's echo endpoint, lib/local/echo.py), and run
requests that bring check-stale, cleanup-heartbeats and prune-history forward to the first
drain. Running it again re-arms the demo; nothing is added twice.

A demo seeder must never fill production: it refuses any database that is not
on this machine (see `database_is_local`) unless given --force.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from lib import pgconn
from lib.local.echo import ECHO_PATH
from lib.settings import SettingsError, get_settings

SEED_SQL = Path(__file__).with_name("demo_seed.sql")
# The one call; its arguments are parameters, never spliced in.
_SEED = "select item, seeded, detail from pg_temp.cronrelay_seed_demo($1, $2, $3, $4)"
DEFAULT_APP_URL = "http://127.0.0.1:3000"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
EVERY_MINUTE_JOB = "demo:echo-every-minute"
ONCE_JOB = "demo:echo-once"


class NotLocal(Exception):
    """The database is not on this machine and --force was not given."""


@dataclass(frozen=True)
class DemoSeed:
    """What one seeding did, as the SQL function reported it."""

    agents: int
    stale_agents: int
    old_heartbeats: int
    recent_heartbeats: int
    retention_days: int
    old_runs: int
    old_requests: int
    history_days: int
    reminders: int
    due_reminders: int
    once_at: str  # HH:MM:SS UTC
    queued: list[str]
    not_queued: list[str]
    echo_url: str


def database_hosts(dsn: str) -> list[str]:
    """Every host a libpq URL names (several for a multi-host URL); a socket directory counts as a host."""
    parts = urlsplit(dsn)
    hosts: list[str] = []
    netloc = parts.netloc.rpartition("@")[2]
    for item in netloc.split(","):
        if item.startswith("["):  # [::1]:5432
            hosts.append(item[1 : item.find("]")])
        elif item:
            hosts.append(unquote(item.partition(":")[0]))
    for value in parse_qs(parts.query).get("host", []):
        hosts.extend(h for h in value.split(",") if h)
    if not hosts and os.environ.get("PGHOST"):
        # No host in the URL: the driver falls back to PGHOST.
        hosts.extend(h for h in os.environ["PGHOST"].split(",") if h)
    return hosts


def database_is_local(dsn: str) -> bool:
    """The rule: every host is 127.0.0.1, localhost or ::1, or a Unix socket directory.

    A URL that names no host (and no PGHOST) means the default local socket."""
    return all(host.lower() in LOCAL_HOSTS or host.startswith("/") for host in database_hosts(dsn))


def app_url() -> str:
    """The running local stack's base URL (it writes it while up), else the default port's."""
    from lib.local.stack import APP_URL_FILE

    try:
        return APP_URL_FILE.read_text().strip() or DEFAULT_APP_URL
    except OSError:
        return DEFAULT_APP_URL


async def seed_demo(
    dsn: str,
    *,
    echo_url: str,
    stale_after_seconds: int,
    retention_days: int,
    history_days: int,
    force: bool = False,
) -> DemoSeed:
    if not force and not database_is_local(dsn):
        raise NotLocal(
            "DATABASE_URL does not point at this machine (host 127.0.0.1, localhost, ::1 or a Unix socket): "
            "a demo seeder never fills a shared or production database; pass --force if you really mean it"
        )
    connection = await pgconn.connect(dsn)
    try:
        async with connection.transaction():
            await pgconn.execute(connection, SEED_SQL.read_text())
            rows = await pgconn.fetch(connection, _SEED, echo_url, stale_after_seconds, retention_days, history_days)
    finally:
        await connection.close()
    seeded = {row["item"]: (int(row["seeded"]), row["detail"] or "") for row in rows}
    return DemoSeed(
        agents=seeded["agents"][0],
        stale_agents=int(seeded["agents"][1]),
        old_heartbeats=seeded["old heartbeats"][0],
        recent_heartbeats=seeded["recent heartbeats"][0],
        retention_days=retention_days,
        old_runs=seeded["old runs"][0],
        old_requests=seeded["old requests"][0],
        history_days=history_days,
        reminders=seeded["reminders"][0],
        due_reminders=int(seeded["reminders"][1]),
        once_at=seeded["once job"][1],
        queued=_names(seeded["run requests"][1]),
        not_queued=_names(seeded.get("not queued", (0, ""))[1]),
        echo_url=echo_url,
    )


def _names(listed: str) -> list[str]:
    return [name for name in listed.split(", ") if name]


def summary(seed: DemoSeed, base_url: str) -> str:
    """What was seeded and what to watch for, as the command prints it."""
    later = seed.reminders - seed.due_reminders
    lines = [
        "seed-demo: the local database is ready for the demo (run it again to start over; nothing is added twice)",
        f"  agents        {seed.agents}, {seed.stale_agents} of them silent too long: check-stale marks them offline",
        f"  heartbeats    {seed.old_heartbeats} older than {seed.retention_days} days: cleanup-heartbeats deletes them"
        f" ({seed.recent_heartbeats} recent ones stay)",
        f"  history       {seed.old_runs} ledger rows and {seed.old_requests} finished run requests older than"
        f" {seed.history_days} days: prune-history deletes them",
        f"  reminders     {seed.due_reminders} due now, {later} due in 90 s: sent to the local Telegram stand-in",
        f"  webhook job   {EVERY_MINUTE_JOB} (cron * * * * *) posts to {seed.echo_url}",
        f"  once job      {ONCE_JOB} (in 2m) fires at {seed.once_at} UTC, to the same endpoint",
    ]
    if seed.queued:
        queued = ", ".join(seed.queued[:-1]) + f" and {seed.queued[-1]}" if len(seed.queued) > 1 else seed.queued[0]
        lines.append(f"  run requests  {queued}: run by the next drain, not at their own crons")
    if seed.not_queued:
        lines.append(f"  not queued    {', '.join(seed.not_queued)}: paused, or missing from cron_jobs (run migrate)")
    lines += [
        "watch, over the next four minutes (the stack's crons tick on the minute):",
        "  the stack's output: local telegram and local echo lines, and one JSON line per run",
        "  python3 dev.py cli runs: every job's runs and what they did (stats)",
        "  python3 dev.py cli requests: the webhook calls and the builtin runs the drain made",
        f"  the console: {base_url}/api/ops (the stack's CRON_SECRET, or an operator once one exists)",
    ]
    return "\n".join(lines)


async def seed_demo_command(*, force: bool, echo_url: str | None) -> int:
    """The CLI command; exit status 4 when it refuses the database, 3 when the database fails."""
    settings = get_settings()
    if settings.database_url is None:
        raise SettingsError(
            "DATABASE_URL is not set (seed-demo writes to the local stack's Postgres: "
            "start `python3 dev.py local`, then run `python3 dev.py cli seed-demo`)"
        )
    base_url = app_url()
    try:
        seed = await seed_demo(
            settings.database_url.get_secret_value(),
            echo_url=echo_url or base_url + ECHO_PATH,
            stale_after_seconds=settings.stale_after_seconds,
            retention_days=settings.heartbeat_retention_days,
            history_days=settings.run_history_days,
            force=force,
        )
    except NotLocal as refusal:
        print(f"seed-demo refused: {refusal}", file=sys.stderr)
        return 4
    except psycopg.errors.UndefinedTable:
        print("seed-demo: the database has no cronrelay tables yet: run `python3 dev.py cli migrate`", file=sys.stderr)
        return 3
    except (OSError, psycopg.Error) as error:
        if isinstance(error, psycopg.Error) and error.sqlstate:
            # The server answered: its message names the statement's problem, not the connection.
            print(f"database error: seed-demo failed: {pgconn.error_text(error)}", file=sys.stderr)
            return 3
        # The class only: a connection error's text names the host and port.
        print(f"database error: seed-demo could not reach the database ({type(error).__name__})", file=sys.stderr)
        return 3
    print(summary(seed, base_url))
    return 0
