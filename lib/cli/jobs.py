"""`python -m lib jobs ...` and `python -m lib retry <request id>`: job management from a shell.

jobs list [--project P] [--search TEXT] [--filter all|enabled|paused|failing] [--limit N] [--json]
jobs show <job> [--project P] [--json]
jobs add <name> --target T [--kind webhook|builtin] [--schedule S] [--type cron|interval|once|manual]
         [--timezone TZ] [--payload JSON] [--project P] [--paused] [--json] [alert options]
jobs edit <job> [--name N] [--target T] [--kind K] [--schedule S] [--type T] [--timezone TZ]
         [--payload JSON] [--no-schedule] [--project P] [--json] [alert options]
  alert options (noise control; any job, vercel.json's too, for edit):
         [--alert-after-failures N] [--realert-after DURATION|never] [--overdue-grace DURATION]
         [--alerts on|off]
jobs rm <job> [--project P] [--json]
jobs pause|resume <job> [--project P] [--json]
jobs run <job> [--payload JSON] [--project P] [--json]
retry <request id> [--json]

<job> is a job's name (in --project, default `default`) or its id. Every
action goes through lib/manage, as the console's does. Tables by default,
`--json` for the objects the console API returns. A refusal (no such job, a
name taken, a bad schedule) is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from lib import manage
from lib.cli.common import FAILURES, failed, json_object, positive_int, with_database
from lib.cli.tables import REQUEST_COLUMNS, RUN_COLUMNS, Column, Record, cell, render
from lib.db import Database
from lib.settings import get_settings

REQUESTED_BY = "cli"

JOB_COLUMNS = (
    Column("job", lambda r: r["name"] if r["project_id"] == "default" else f"{r['project_id']}/{r['name']}"),
    Column("kind", lambda r: r["kind"]),
    Column("target", lambda r: r["target"], width=32),
    Column("schedule", lambda r: r["schedule_text"], width=48),
    Column("next run", lambda r: r["next_run_at"]),
    Column("last run", lambda r: r["last_run_at"]),
    Column("last", lambda r: r["last_status"] or ("schedule error" if r["schedule_error"] else None)),
    Column("ms", lambda r: r["last_duration_ms"]),
    Column("state", lambda r: "on" if r["enabled"] else "paused"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="cronrelay job management")
    commands = parser.add_subparsers(dest="command", required=True)
    jobs = commands.add_parser("jobs", help="list, show, add, edit, remove, pause, resume or run jobs")
    actions = jobs.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="jobs, their schedules in words, next and last runs")
    listing.add_argument("--project", help="only this project's jobs (default: every project)")
    listing.add_argument("--search", help="only jobs whose name contains this text")
    listing.add_argument("--filter", choices=("all", "enabled", "paused", "failing"), default="all")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most this many (max 200; default 50)")
    listing.add_argument("--json", action="store_true", help="print the page as JSON (the console API's)")

    show = actions.add_parser("show", help="one job: its definition, next runs, recent runs and requests")
    _job_argument(show)

    add = actions.add_parser("add", help="create a database-defined job")
    add.add_argument("name")
    add.add_argument("--project", default="default", help="its project (default: %(default)s)")
    add.add_argument("--kind", choices=("webhook", "builtin"), default="webhook")
    add.add_argument("--target", required=True, help="the webhook's https URL, or a builtin job's name")
    _definition_arguments(add)
    add.add_argument("--paused", action="store_true", help="create it paused")
    add.add_argument("--json", action="store_true")

    edit = actions.add_parser("edit", help="change a database-defined job")
    _job_argument(edit)
    edit.add_argument("--name", dest="new_name", help="rename it")
    edit.add_argument("--kind", choices=("webhook", "builtin"))
    edit.add_argument("--target")
    _definition_arguments(edit)
    edit.add_argument("--no-schedule", action="store_true", help="make it manual: it runs only on request")

    for action, text in (
        ("rm", "delete a database-defined job and its run requests"),
        ("pause", "pause a job: its schedule and route stop, its queued requests wait"),
        ("resume", "resume a paused job at its next tick, without the ones it missed"),
    ):
        _job_argument(actions.add_parser(action, help=text))
    run = actions.add_parser("run", help="queue a run of a job now (a run request)")
    _job_argument(run)
    run.add_argument("--payload", type=json_object, help="a JSON object that replaces the job's payload this once")

    retry = commands.add_parser("retry", help="retry a run request that ended in error")
    retry.add_argument("request_id")
    retry.add_argument("--json", action="store_true")
    return parser


def _job_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="the job's name, or its id")
    parser.add_argument(
        "--project", default="default", help="the project of a job given by name (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the console API's objects)")


def _definition_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schedule", help="5-field cron, an interval (every 2h, 90s) or once (in 20m, an ISO instant)")
    parser.add_argument(
        "--type",
        dest="schedule_type",
        choices=("cron", "interval", "once", "manual"),
        help="the schedule's type (default: read from --schedule)",
    )
    parser.add_argument("--timezone", help="an IANA time zone for cron and once schedules (default: UTC)")
    parser.add_argument("--payload", type=json_object, help="a JSON object sent with every run")
    _alert_arguments(parser)


def _alert_arguments(parser: argparse.ArgumentParser) -> None:
    """Noise control (lib/manage/alert_controls.py)."""
    parser.add_argument(
        "--alert-after-failures", type=positive_int, help="alert only after this many failures in a row (default 1)"
    )
    parser.add_argument("--realert-after", help="alert again this often while still failing (30m, 4h; never: off)")
    parser.add_argument("--overdue-grace", help="added to two missed intervals before job.overdue (default 5m)")
    parser.add_argument("--alerts", choices=("on", "off"), help="off mutes the job's alerts (episodes still shown)")


def schedule_type_of(schedule: str) -> str:
    """The type a schedule's text reads as: cron (5 fields, @daily), once (`in 20m`, an ISO instant), else interval."""
    text = schedule.strip()
    if text.startswith("@") or len(text.split()) == 5:
        return "cron"
    if text.lower().startswith("in "):
        return "once"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return "interval"
    return "once"


def _definition(args: argparse.Namespace) -> dict[str, Any]:
    """The fields the options set (edit: only those given)."""
    fields: dict[str, Any] = {}
    if getattr(args, "no_schedule", False):
        fields.update(schedule_type="manual", schedule=None)
    if args.schedule is not None:
        fields.update(schedule=args.schedule, schedule_type=args.schedule_type or schedule_type_of(args.schedule))
    elif args.schedule_type is not None:
        fields["schedule_type"] = args.schedule_type
    for option, field in (("timezone", "timezone"), ("payload", "payload"), ("kind", "kind"), ("target", "target")):
        value = getattr(args, option, None)
        if value is not None:
            fields[field] = value
    for option in ("alert_after_failures", "realert_after", "overdue_grace"):
        value = getattr(args, option, None)
        if value is not None:
            fields[option] = None if value == "never" else value
    if getattr(args, "alerts", None) is not None:
        fields["alerts_enabled"] = args.alerts == "on"
    return fields


# -- output -----------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def jobs_table(jobs: Sequence[manage.JobView]) -> str:
    return render([job.model_dump(mode="json") for job in jobs], JOB_COLUMNS)


def _records(models: Sequence[Any]) -> list[Record]:
    return [model.model_dump(mode="json") for model in models]


def job_detail_text(detail: manage.JobDetail) -> str:
    job = detail.job.model_dump(mode="json")
    lines = [
        f"job        {job['name']}  ({job['id']})",
        f"project    {job['project_id']}",
        f"kind       {job['kind']} -> {job['target']}",
        f"schedule   {job['schedule_text']}" + ("" if job["editable"] else "  [defined by vercel.json]"),
        f"state      {'on' if job['enabled'] else 'paused'}",
        f"payload    {json.dumps(job['payload'])}",
        f"last run   {cell(job['last_run_at'])}  {job['last_status'] or ''}".rstrip(),
        f"alerts     {_alerts_text(job)}",
    ]
    if job["schedule_error"]:
        lines.append(f"error      {job['schedule_error']}")
    times = [cell(time.isoformat()) for time in detail.next_runs]
    lines.append("next runs  " + (", ".join(times) or "-"))
    if detail.job.kind == "builtin":
        lines += ["", "runs", render(_records(detail.runs), RUN_COLUMNS)]
    lines += ["", "requests", render(_records(detail.requests), REQUEST_COLUMNS)]
    return "\n".join(lines)


def _alerts_text(job: dict[str, Any]) -> str:
    if not job["alerts_enabled"]:
        return "off (episodes are tracked, nothing is sent)"
    after = job["alert_after_failures"]
    parts = ["after 1 failure" if after == 1 else f"after {after} failures in a row"]
    if job["realert_after"]:
        parts.append(f"again every {job['realert_after']}s while failing")
    parts.append(f"overdue grace {job['overdue_grace']}s")
    return ", ".join(parts)


# -- actions ------------------------------------------------------------------------


async def _list(db: Database, args: argparse.Namespace) -> str:
    page = await manage.list_jobs(db, project=args.project, q=args.search, filter=args.filter, limit=args.limit)
    if args.json:
        return _dump(page.model_dump(mode="json"))
    more = "\n(more jobs: raise --limit or narrow with --project, --search or --filter)" if page.has_more else ""
    return jobs_table(page.jobs) + more


async def _show(db: Database, args: argparse.Namespace) -> str:
    job = await manage.find_job(db, args.job, project=args.project)
    detail = await manage.get_job(db, job.id)
    return _dump(detail.model_dump(mode="json")) if args.json else job_detail_text(detail)


async def _add(db: Database, args: argparse.Namespace) -> str:
    data = {"project_id": args.project, "name": args.name, "enabled": not args.paused, **_definition(args)}
    try:
        job_input = manage.JobInput.model_validate(data)
    except ValueError as error:
        # argparse's choices already hold the enumerations; this is a safety net.
        raise manage.ManageError(f"invalid job: {error}".splitlines()[0], status=422) from None
    settings = get_settings()
    job = await manage.create_job(
        db,
        job_input,
        allow_http_webhooks=settings.allow_http_webhooks,
        allow_private_targets=settings.allow_private_targets,
    )
    return _job_answer(job, args.json)


async def _edit(db: Database, args: argparse.Namespace) -> str:
    changes = _definition(args)
    if args.new_name is not None:
        changes["name"] = args.new_name
    if not changes:
        raise manage.ManageError("nothing to change: give --name, --target, --schedule, ... (see --help)", status=422)
    job = await manage.find_job(db, args.job, project=args.project)
    settings = get_settings()
    updated = await manage.update_job(
        db,
        job.id,
        changes,
        allow_http_webhooks=settings.allow_http_webhooks,
        allow_private_targets=settings.allow_private_targets,
    )
    return _job_answer(updated, args.json)


async def _rm(db: Database, args: argparse.Namespace) -> str:
    job = await manage.find_job(db, args.job, project=args.project)
    await manage.delete_job(db, job.id)
    if args.json:
        return _dump({"deleted": True, "id": str(job.id), "project_id": job.project_id, "name": job.name})
    return f"deleted job {job.name!r} (project {job.project_id!r}) and its run requests"


async def _pause(db: Database, args: argparse.Namespace) -> str:
    job = await manage.find_job(db, args.job, project=args.project)
    return _job_answer(await manage.pause_job(db, job.id), args.json)


async def _resume(db: Database, args: argparse.Namespace) -> str:
    job = await manage.find_job(db, args.job, project=args.project)
    return _job_answer(await manage.resume_job(db, job.id), args.json)


async def _run(db: Database, args: argparse.Namespace) -> str:
    job = await manage.find_job(db, args.job, project=args.project)
    request = await manage.run_now(db, job.id, requested_by=REQUESTED_BY, payload=args.payload)
    # Run now runs now: executed in this command, through the drain's executor.
    return _executed_answer(await _execute(db, request), args.json)


async def _retry(db: Database, args: argparse.Namespace) -> str:
    request = await manage.retry_request(db, args.request_id, requested_by=REQUESTED_BY)
    return _executed_answer(await _execute(db, request), args.json)


async def _execute(db: Database, request: manage.RequestView) -> manage.Executed:
    # A builtin's run writes its ledger line to stdout; here stdout is the
    # command's answer (--json is parsed by scripts), so the line goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        return await manage.execute_now(db, get_settings(), request)


def _executed_answer(executed: manage.Executed, as_json: bool) -> str:
    """The settled request; when it could not start at once, a line saying why it waits."""
    if as_json:
        return _dump(executed.model_dump(mode="json"))
    table = render(_records([executed.request]), REQUEST_COLUMNS)
    return table if executed.waiting is None else f"{table}\nnot run yet: {executed.waiting}"


def _job_answer(job: manage.JobView, as_json: bool) -> str:
    return _dump({"job": job.model_dump(mode="json")}) if as_json else jobs_table([job])


ACTIONS: dict[str, Callable[[Database, argparse.Namespace], Awaitable[str]]] = {
    "list": _list,
    "show": _show,
    "add": _add,
    "edit": _edit,
    "rm": _rm,
    "pause": _pause,
    "resume": _resume,
    "run": _run,
}


def main(argv: list[str]) -> int:
    """`jobs ...` or `retry ...` (argv starts with the command); the exit status."""
    args = _parser().parse_args(argv)
    action = _retry if args.command == "retry" else ACTIONS[args.action]
    try:
        print(asyncio.run(with_database(lambda db: action(db, args))))
    except FAILURES as error:
        return failed(error)
    return 0
