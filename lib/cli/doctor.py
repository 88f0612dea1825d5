"""`python -m lib doctor --url <app>`: check a deployment from outside, one line per check.

From outside, over HTTP, with the CRON_SECRET configured here:
- health: /api/health answers ok (it also names a missing or short CRON_SECRET);
- secret: a dry run of check-stale with the bearer secret is accepted;
- database: the app reaches its database (health's own check).
Then, when this shell has database settings (DATABASE_URL, the Supabase pair,
or a running local stack):
- migrations: nothing is waiting for `migrate` (needs DATABASE_URL);
- each scheduled job: its last run kept up with its schedule and did not fail;
- Supabase Cron: the installed `cronrelay:*` jobs are active, call this app,
  and their last runs succeeded (when the database has pg_cron);
- with --alerts, a test event to each configured alert channel.

Each failure carries the fix. The exit status is 0 when every check passed
(skipped ones included), 1 when any failed. Nothing here prints a secret or a
configured value: errors name what is wrong, as the app's own do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from lib.db import Database, DatabaseError, database_for
from lib.settings import Settings, SettingsError, get_settings

Outcome = Literal["ok", "FAIL", "skip"]
# A job misses one tick now and then (Vercel's delivery is best effort); two
# missed fires plus this much slack is a trigger that stopped calling.
OVERDUE_SLACK = timedelta(minutes=1)
HTTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> fix: {self.fix}" if self.fix else ""
        return f"{self.outcome:<4}  {self.name}: {self.detail}{fix}"


def ok(name: str, detail: str) -> Check:
    return Check("ok", name, detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check("FAIL", name, detail, fix)


def skip(name: str, detail: str) -> Check:
    return Check("skip", name, detail)


# -- from outside, over HTTP -------------------------------------------------------

PROTECTED = (
    "Vercel Deployment Protection is on for this URL: call the production domain, or add a "
    "Protection Bypass for Automation secret (docs/deploy.md, Deployment Protection)"
)


def _protected(response: httpx.Response) -> bool:
    """Vercel's SSO wall answers 401 (or a redirect to vercel.com) with an HTML page, not our JSON."""
    kind = response.headers.get("content-type", "")
    return (response.status_code in (401, 403) and "text/html" in kind) or (
        response.is_redirect and "vercel.com" in response.headers.get("location", "")
    )


def _error_of(response: httpx.Response) -> str:
    """The app's own one-line error (it names the variable, never a value), else the status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {error}" if error else f"HTTP {response.status_code}"


async def check_health(http: httpx.AsyncClient, url: str) -> tuple[list[Check], dict[str, Any]]:
    """The health line and the database line, both from /api/health."""
    try:
        response = await http.get(f"{url}/api/health")
    except httpx.HTTPError as error:
        line = fail(
            "health",
            f"{url}/api/health does not answer ({type(error).__name__})",
            "check the URL (https://<project>.vercel.app, or the BASE the local stack prints) and that it is deployed",
        )
        return [line, skip("database", "not checked: the app does not answer")], {}
    if _protected(response):
        return [fail("health", "the URL answers with a login page", PROTECTED), skip("database", "not checked")], {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        line = fail(
            "health",
            f"{url}/api/health is not cronrelay's (HTTP {response.status_code}, not its JSON)",
            "point --url at the cronrelay deployment; beside a Next.js app, check vercel.json's rewrites "
            "(docs/deploy.md, Beside a Next.js app)",
        )
        return [line, skip("database", "not checked")], {}
    database = str(body.get("database", ""))
    if database == "ok":
        db_line = ok("database", f"the app reaches its database (adapter {body.get('adapter', '?')})")
    elif database == "not configured":
        db_line = fail(
            "database",
            "the app has no database settings",
            "set DATABASE_URL (the transaction pooler URL, port 6543) or SUPABASE_URL and "
            "SUPABASE_SERVICE_ROLE_KEY in the deployment's environment, then redeploy",
        )
    else:
        db_line = fail(
            "database",
            f"the app cannot use its database ({database}: {body.get('error', '?')})",
            "check the deployment's DATABASE_URL or SUPABASE_URL/SUPABASE_SERVICE_ROLE_KEY, and that the "
            "database is up (Supabase: a paused project must be restored)",
        )
    if response.status_code == 200 and body.get("status") == "ok":
        overdue = body.get("overdue_jobs")
        health = ok("health", f"{url}/api/health answers ok ({overdue} overdue jobs)")
    elif str(body.get("error", "")).startswith("CRON_SECRET"):
        health = fail(
            "health",
            f"HTTP {response.status_code}: {body['error']}",
            "set CRON_SECRET (at least 16 characters; `python -m lib secrets` prints one) in the "
            "deployment's environment and redeploy",
        )
    else:
        health = fail("health", _error_of(response), "see the database line below; fix it and redeploy")
    return [health, db_line], body


async def check_secret(http: httpx.AsyncClient, url: str, settings: Settings) -> Check:
    """A dry run of check-stale with this shell's CRON_SECRET: it changes nothing."""
    secret = settings.cron_secret.get_secret_value() if settings.cron_secret else ""
    if not secret:
        return fail(
            "secret",
            "CRON_SECRET is not set here, so the bearer secret cannot be tried",
            "set CRON_SECRET in this shell (or .env) to the deployment's value",
        )
    try:
        response = await http.get(
            f"{url}/api/cron/check-stale", params={"dry_run": "true"}, headers={"authorization": f"Bearer {secret}"}
        )
    except httpx.HTTPError as error:
        return fail("secret", f"the dry run did not answer ({type(error).__name__})", "see the health line")
    if _protected(response):
        return fail("secret", "the URL answers with a login page", PROTECTED)
    if response.status_code == 200:
        return ok("secret", "the deployment accepts this CRON_SECRET (a dry run of check-stale)")
    if response.status_code == 401:
        return fail(
            "secret",
            "the deployment refused this CRON_SECRET (HTTP 401)",
            "use the same CRON_SECRET here and in the deployment (Vercel: Settings → Environment Variables; "
            "a change needs a redeploy)",
        )
    return fail("secret", f"the dry run failed ({_error_of(response)})", "see the health and database lines")


# -- from the database ------------------------------------------------------------------


async def check_migrations(settings: Settings) -> Check:
    import psycopg

    from lib.migrate import pending
    from lib.pgconn import error_text

    if settings.database_url is None:
        return skip("migrations", "not checked: needs DATABASE_URL here (the session pooler URL, as migrate uses)")
    try:
        waiting = await pending(settings.database_url.get_secret_value())
    except (OSError, TimeoutError) as error:
        return fail("migrations", f"could not connect to DATABASE_URL ({type(error).__name__})", _UNREACHABLE)
    except Exception as error:
        if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
            # No server answered: psycopg's text names the host and port, so the class only.
            return fail("migrations", f"could not connect to DATABASE_URL ({type(error).__name__})", _UNREACHABLE)
        reason = settings.redact(" ".join(error_text(error).split()) or type(error).__name__)
        return fail("migrations", f"could not read the migration records ({reason})", _UNREACHABLE)
    if waiting:
        shown = ", ".join(waiting[:6]) + (f" and {len(waiting) - 6} more" if len(waiting) > 6 else "")
        return fail(
            "migrations",
            f"not current: {shown} not applied",
            "run `python -m lib migrate` with DATABASE_URL set to the session pooler URL (port 5432)",
        )
    return ok("migrations", "current: every file in migrations/ is applied")


_UNREACHABLE = "check DATABASE_URL here, and that the database is up"


def overdue_since(job: Any, now: datetime) -> datetime | None:
    """When a scheduled job's second missed fire was due (plus slack), if that has passed; else None."""
    from lib.clock.schedules import ScheduleError, next_fire, parse_schedule

    if not job.enabled or job.schedule_error or job.schedule_type not in ("vercel", "cron", "interval"):
        return None
    kind = "cron" if job.schedule_type == "vercel" else job.schedule_type
    zone = "UTC" if job.schedule_type == "vercel" else job.timezone
    basis = job.last_run_at or job.created_at
    if basis is None:
        return None
    try:
        schedule = parse_schedule(kind, job.schedule, zone, job.created_at)
        first = next_fire(schedule, basis, basis)
        second = next_fire(schedule, first, first) if first else None
    except ScheduleError:
        return None
    if second is None or now <= second + OVERDUE_SLACK:
        return None
    return second + OVERDUE_SLACK


async def check_jobs(db: Database, now: datetime | None = None) -> list[Check]:
    from lib import manage

    moment = now or datetime.now(UTC)
    page = await manage.list_jobs(db, limit=200)
    lines = []
    for job in page.jobs:
        name = f"job {job.name}" if job.project_id == "default" else f"job {job.project_id}/{job.name}"
        late = overdue_since(job, moment)
        last = job.last_run_at.strftime("%Y-%m-%d %H:%M UTC") if job.last_run_at else "never"
        if not job.enabled:
            lines.append(skip(name, f"paused ({job.schedule_text})"))
        elif job.schedule_type in ("manual", "once"):
            lines.append(ok(name, f"{job.schedule_text}; last run {last}"))
        elif late is not None:
            lines.append(
                fail(
                    name,
                    f"overdue: last run {last}, but {job.schedule_text} means it should have run since",
                    "its trigger is not calling it: Vercel runs crons on production deployments only (and on "
                    "Hobby at most daily: use Supabase Cron, docs/deploy.md); `python -m lib supabase-cron status` "
                    "shows Supabase Cron's",
                )
            )
        elif job.last_status == "error":
            lines.append(
                fail(
                    name,
                    f"its last run ({last}) ended in error",
                    f"see `python -m lib runs --job {job.name}` (builtin) or `python -m lib requests --status error`",
                )
            )
        else:
            lines.append(ok(name, f"last run {last} ({job.last_status or 'none yet'}); {job.schedule_text}"))
    if page.has_more:
        lines.append(skip("jobs", "only the first 200 jobs were checked"))
    return lines


async def check_supabase_cron(url: str, settings: Settings) -> list[Check]:
    from lib.cli.supabase_cron import SupabaseCronError, status

    if settings.database_url is None:
        return [skip("supabase cron", "not checked: needs DATABASE_URL here")]
    try:
        rows = await status(settings)
    except SupabaseCronError as error:
        if "pg_cron" in str(error):
            return [skip("supabase cron", "not in use (no pg_cron on this database): vercel.json's crons trigger")]
        return [fail("supabase cron", str(error), _UNREACHABLE)]
    if not rows:
        return [skip("supabase cron", "no cronrelay:* jobs installed: vercel.json's crons trigger")]
    lines = []
    for row in rows:
        name = f"supabase cron {row['job']}"
        last = row["last_run"]
        called = row["url"] or ""
        if not row["active"]:
            lines.append(fail(name, "inactive", "`python -m lib supabase-cron install --url <app>` schedules it again"))
        elif called and urlsplit(called).netloc != urlsplit(url).netloc:
            lines.append(
                fail(
                    name,
                    "calls another app than --url",
                    "`python -m lib supabase-cron install --url <this app>` points it here",
                )
            )
        elif last is not None and last["status"] != "succeeded":
            message = settings.redact(str(last.get("return_message") or "")[:200])
            lines.append(
                fail(
                    name,
                    f"its last run {last['status']} ({message})",
                    "check pg_net and the Vault secret: `python -m lib supabase-cron install` again",
                )
            )
        else:
            answered = f"last run {last['status']} at {last['start_time']}" if last else "not run yet"
            lines.append(ok(name, f"{row['schedule']}, {answered}"))
    lines.extend(await _pg_net_answers(settings))
    return lines


async def _pg_net_answers(settings: Settings) -> list[Check]:
    """What the app answered pg_net in the last hour: a job's run succeeding only means its request was queued."""
    from lib.cli.supabase_cron import SupabaseCronError, recent_answers

    try:
        answers = await recent_answers(settings)
    except SupabaseCronError as error:
        return [fail("supabase cron answers", str(error), _UNREACHABLE)]
    if answers is None:
        return []
    if not answers:
        return [skip("supabase cron answers", "pg_net has no answers from the last hour")]
    counted = ", ".join(f"{answer} x{calls}" for answer, calls in answers.items())
    detail = f"pg_net's answers in the last hour (all its calls): {counted}"
    if "401" in answers:
        return [
            fail(
                "supabase cron answers",
                detail,
                "the Vault secret differs from the deployment's CRON_SECRET: run `python -m lib supabase-cron install "
                "--url <app>` with the deployment's CRON_SECRET in your shell",
            )
        ]
    broken = [a for a in answers if a in ("timeout", "error") or a.startswith("5")]
    if broken:
        return [
            fail(
                "supabase cron answers",
                detail,
                "some calls failed or got a server error: see the health line, and the app's logs in Vercel",
            )
        ]
    return [ok("supabase cron answers", detail)]


# The setting that configures each alert channel, named in doctor's lines.
ALERT_SETTINGS = {
    "webhook": "ALERT_WEBHOOK_URL",
    "slack": "ALERT_SLACK_WEBHOOK_URL",
    "discord": "ALERT_DISCORD_WEBHOOK_URL",
    "telegram": "ALERT_TELEGRAM_CHAT_ID",
}


async def check_alerts(settings: Settings) -> list[Check]:
    """An `alert.test` through the delivery queue to every configured channel: one line per channel."""
    from lib import manage
    from lib.alerts.channels import configured
    from lib.db import DatabaseError, database_for

    if not configured(settings):
        return [skip("alerts", "no alert channel is configured here (" + ", ".join(ALERT_SETTINGS.values()) + ")")]
    try:
        alert = await manage.send_test_alert(database_for(settings), settings, requested_by="doctor")
    except (DatabaseError, manage.ManageError) as error:
        return [fail("alerts", f"the test alert could not be queued: {error}", "fix the database line above first")]
    lines: list[Check] = []
    for delivery in alert.deliveries:
        name = f"alerts {ALERT_SETTINGS.get(delivery.channel, delivery.channel)}"
        if delivery.status == "sent":
            lines.append(ok(name, f"an alert.test was delivered ({alert.alert_id})"))
            continue
        said = delivery.last_error or "no answer yet"
        channel = delivery.channel
        detail = f"alert {channel} answered {said}" if delivery.status_code else f"alert {channel}: {said}"
        setting = ALERT_SETTINGS.get(channel, channel)
        lines.append(fail(name, detail, f"check {setting} and that its receiver answers 2xx"))
    return lines


async def check_unconfigured_channels(db: Database, settings: Settings) -> list[Check]:
    """Pending deliveries on a channel this shell does not configure: before the `schedule` tick ends them
    dead (lib/alerts/abandon.py), the operator learns that no deployment may be sending them."""
    from lib import manage

    return [
        fail(
            f"alert queue {stranded.channel}",
            stranded.line(),
            f"set {stranded.setting} in the deployment (and here, to check it) if the channel should work; "
            "leave it unset everywhere and these end dead on their own",
        )
        for stranded in await manage.pending_unconfigured(db, settings)
    ]


# -- the command ----------------------------------------------------------------------------


async def diagnose(
    url: str, settings: Settings, *, alerts: bool = False, transport: httpx.AsyncBaseTransport | None = None
) -> list[Check]:
    """Every check, in order. `transport` lets tests serve the app in-process."""
    base = url.rstrip("/")
    # The database's checks first: the secret's dry run is a run of check-stale,
    # and would otherwise pass for that job's last run.
    stored = await _database_checks(base, settings)
    async with httpx.AsyncClient(
        timeout=HTTP_TIMEOUT, transport=transport, follow_redirects=False, headers=_bypass_header()
    ) as http:
        lines, _ = await check_health(http, base)
        lines.insert(1, await check_secret(http, base, settings))
    lines.extend(stored)
    if alerts:
        lines.extend(await check_alerts(settings))
    return lines


def _bypass_header() -> dict[str, str]:
    """Vercel's Protection Bypass for Automation, when this shell has its secret: a protected
    production domain then answers as an unprotected one (docs/deploy.md, Deployment Protection)."""
    bypass = os.environ.get("VERCEL_AUTOMATION_BYPASS_SECRET", "").strip()
    return {"x-vercel-protection-bypass": bypass} if bypass else {}


async def _database_checks(base: str, settings: Settings) -> list[Check]:
    if settings.database_problem():
        return [
            skip("migrations", "not checked: needs DATABASE_URL here"),
            skip("jobs", "not checked: no database settings here (DATABASE_URL, or a running local stack)"),
        ]
    lines = [await check_migrations(settings)]
    db = database_for(settings)
    try:
        lines.extend(await check_jobs(db))
    except DatabaseError as error:
        lines.append(fail("jobs", f"could not list the jobs ({settings.redact(str(error))})", _UNREACHABLE))
    try:
        lines.extend(await check_unconfigured_channels(db, settings))
    except DatabaseError as error:
        lines.append(fail("alert queue", f"could not count deliveries ({settings.redact(str(error))})", _UNREACHABLE))
    finally:
        await db.close()
    lines.extend(await check_supabase_cron(base, settings))
    return lines


def summary(lines: Sequence[Check]) -> str:
    failed = sum(1 for line in lines if line.outcome == "FAIL")
    skipped = sum(1 for line in lines if line.outcome == "skip")
    extra = f" ({skipped} skipped)" if skipped else ""
    if failed:
        return f"doctor: {failed} of {len(lines)} checks failed{extra}"
    return f"doctor: every check passed{extra}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib doctor", description="check a cronrelay deployment")
    parser.add_argument("--url", required=True, help="the app's base URL, e.g. https://<project>.vercel.app")
    parser.add_argument("--alerts", action="store_true", help="also send a test alert to each alert channel")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    scheme = urlsplit(args.url).scheme
    if scheme not in ("http", "https") or not urlsplit(args.url).hostname:
        print("doctor: --url must be the app's http(s) base URL, such as https://<project>.vercel.app", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"doctor: configuration error: {error}", file=sys.stderr)
        return 2
    lines = asyncio.run(diagnose(args.url, settings, alerts=args.alerts))
    for line in lines:
        print(line.line(), flush=True)
    print(summary(lines))
    return 1 if any(line.outcome == "FAIL" for line in lines) else 0
