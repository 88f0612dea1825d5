"""Checks a job definition passes before anything is written; each failure is a 422 naming the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lib.clock.schedules import ScheduleError, first_fire, parse_schedule, parse_zone
from lib.jobs.registry import JOBS
from lib.manage.errors import ManageError
from lib.manage.limits import json_problem, size_problem, text_problem
from lib.outbound.webhooks import target_problem

NAME = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
KINDS = ("builtin", "webhook")
SCHEDULE_TYPES = ("cron", "interval", "once", "manual")
# Checked, and written, together.
TARGET_FIELDS = frozenset({"kind", "target"})
SCHEDULE_FIELDS = frozenset({"schedule_type", "schedule", "timezone"})


def invalid(field: str, message: str) -> ManageError:
    return ManageError(message, status=422, field=field)


def check_definition(
    definition: dict[str, Any],
    *,
    allow_http_webhooks: bool,
    allow_private_targets: bool = False,
    created_at: datetime | None = None,
    unchanged: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The definition, normalized (schedule and timezone stripped, a manual job's schedule None).

    `definition` holds every field of JobInput. `created_at` is the row's (an
    edit) or None (a new job: now), for a relative `once` such as `in 20m`.
    `unchanged`: fields an edit leaves as they are. An edit checks only what
    it changes, so a row written by hand (a name from before these rules, a
    target the drain refuses, a schedule in error) can still be edited:
    kind and target are checked together when either changes, and
    schedule_type, schedule and timezone together when any of them does.
    """
    for field, value in definition.items():
        # Text Postgres cannot hold is a 422 naming the field, never a database error.
        problem = text_problem(value) if isinstance(value, str) and field not in unchanged else None
        if problem:
            raise invalid(field, f"{field} {problem}")
    for field in ("project_id", "name"):
        if field in unchanged:
            continue
        value = definition.get(field)
        if not isinstance(value, str) or not NAME.match(value):
            raise invalid(field, f"{field} must be 1 to 100 characters of letters, digits, . _ : -")
    kind, target = definition.get("kind"), definition.get("target")
    if not TARGET_FIELDS <= unchanged:
        if kind not in KINDS:
            raise invalid("kind", "kind must be builtin or webhook")
        _check_target(kind, target, allow_http_webhooks, allow_private_targets)
        definition = {**definition, "target": target.strip() if isinstance(target, str) else target}
    if "payload" not in unchanged:
        check_payload(definition.get("payload"))
    if not isinstance(definition.get("enabled"), bool):
        raise invalid("enabled", "enabled must be true or false")
    schedule_type = definition.get("schedule_type")
    if SCHEDULE_FIELDS <= unchanged:
        return definition
    if schedule_type not in SCHEDULE_TYPES:
        raise invalid(
            "schedule_type", "schedule_type must be cron, interval, once or manual (vercel rows come from vercel.json)"
        )
    timezone = (definition.get("timezone") or "").strip() if isinstance(definition.get("timezone"), str) else None
    schedule = definition.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise invalid("schedule", "schedule must be text")
    schedule = (schedule or "").strip() or None
    try:
        parse_zone(timezone)
        if schedule_type == "manual":
            if schedule is not None:
                raise invalid("schedule", "a manual job has no schedule: set schedule_type to cron, interval or once")
        else:
            now = datetime.now(UTC)
            parsed = parse_schedule(schedule_type, schedule, timezone, created_at or now)
            # A cron expression that parses may still never fire (30 February).
            first_fire(parsed, now)
    except ScheduleError as error:
        message = str(error)
        raise invalid("timezone" if message.startswith("timezone") else "schedule", message) from None
    return {**definition, "schedule": schedule, "timezone": timezone}


def _check_target(kind: str, target: Any, allow_http_webhooks: bool, allow_private_targets: bool) -> None:
    if target is not None and not isinstance(target, str):
        raise invalid("target", "target must be text")
    if kind == "builtin":
        if target not in JOBS:
            raise invalid("target", f"a builtin job's target must be one of: {', '.join(sorted(JOBS))}")
        return
    problem = target_problem(target, allow_http=allow_http_webhooks, allow_private=allow_private_targets)
    if problem:
        raise invalid("target", problem)


def check_payload(payload: Any, field: str = "payload") -> None:
    """A payload is a JSON object at most 32 levels deep and 64 KB long (lib/manage/limits.py)."""
    if not isinstance(payload, dict):
        raise invalid(field, f"{field} must be a JSON object")
    problem = json_problem(payload) or size_problem(payload)
    if problem:
        raise invalid(field, f"{field} {problem}")
