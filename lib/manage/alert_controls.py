"""Noise control per job: alert_after_failures, realert_after, overdue_grace, alerts_enabled.

Part of a job's definition for every caller (`create_job`, `update_job`, so
the console's form, its API and the CLI's `jobs add/edit`), but written by its
own statement (ops_set_job_alerts), because it applies to every job,
vercel.json's included, where the rest of a definition does not.

Durations are given in seconds or as a duration (`90`, `30m`, `1h30m`,
`every 2h`: lib/clock/schedules.parse_interval) and stored and shown in seconds.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from lib.clock.schedules import ScheduleError, parse_interval
from lib.db.port import Database
from lib.db.queries.alert_controls import ops_set_job_alerts
from lib.db.queries.manage import JobRecord
from lib.manage.errors import translated
from lib.manage.validate import invalid

ALERT_FIELDS = ("alert_after_failures", "realert_after", "overdue_grace", "alerts_enabled")
DEFAULTS: dict[str, Any] = {
    "alert_after_failures": 1,
    "realert_after": None,
    "overdue_grace": 300,
    "alerts_enabled": True,
}
MAX_FAILURES = 1000
REALERT_RANGE = (60, 365 * 86400)
GRACE_RANGE = (0, 30 * 86400)


def split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the definition without alert controls, the alert controls given)."""
    return (
        {k: v for k, v in fields.items() if k not in ALERT_FIELDS},
        {k: v for k, v in fields.items() if k in ALERT_FIELDS},
    )


def _seconds(field: str, value: Any, bounds: tuple[int, int], words: str) -> int:
    if isinstance(value, bool):
        raise invalid(field, f"{field} must be {words}")
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str):
        try:
            seconds = parse_interval(value.strip()).total_seconds()
        except (ScheduleError, OverflowError, ValueError):
            raise invalid(field, f"{field} must be {words}, in seconds or as a duration such as 30m or 1h") from None
    else:
        raise invalid(field, f"{field} must be {words}")
    if not bounds[0] <= seconds <= bounds[1]:
        raise invalid(field, f"{field} must be {words}")
    return int(seconds)


def check_alert_controls(controls: dict[str, Any]) -> dict[str, Any]:
    """The controls as ops_set_job_alerts takes them; a 422 naming the field for a bad one."""
    checked: dict[str, Any] = {}
    if "alert_after_failures" in controls:
        value = controls["alert_after_failures"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FAILURES:
            raise invalid(
                "alert_after_failures", f"alert_after_failures must be a whole number from 1 to {MAX_FAILURES}"
            )
        checked["alert_after_failures"] = value
    if "realert_after" in controls:
        value = controls["realert_after"]
        checked["realert_after_seconds"] = (
            None
            if value is None or value == "" or value == "never"
            else _seconds("realert_after", value, REALERT_RANGE, "from 1 minute to 365 days (or null: never)")
        )
    if "overdue_grace" in controls:
        checked["overdue_grace_seconds"] = _seconds(
            "overdue_grace", controls["overdue_grace"], GRACE_RANGE, "from 0 to 30 days"
        )
    if "alerts_enabled" in controls:
        if not isinstance(controls["alerts_enabled"], bool):
            raise invalid("alerts_enabled", "alerts_enabled must be true or false")
        checked["alerts_enabled"] = controls["alerts_enabled"]
    return checked


async def set_alert_controls(db: Database, job_id: UUID, checked: dict[str, Any]) -> JobRecord:
    """Write checked controls (from check_alert_controls); the job as it is now."""
    with translated():
        return await ops_set_job_alerts(db, job_id=job_id, changes=checked)
