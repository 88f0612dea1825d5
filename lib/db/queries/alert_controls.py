"""Noise control per job: migrations' alert_controls concern (lib/manage/alert_controls.py calls it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from lib.db.port import Database
from lib.db.queries._parse import first
from lib.db.queries.manage import JobRecord


async def ops_set_job_alerts(db: Database, *, job_id: UUID, changes: dict[str, Any]) -> JobRecord:
    """Set some of a job's alert controls (keys alert_after_failures, realert_after_seconds,
    overdue_grace_seconds, alerts_enabled); the job as it is now."""
    rows = await db.call("ops_set_job_alerts", p_job_id=job_id, p_changes=changes)
    return JobRecord.model_validate(first(rows, "ops_set_job_alerts")["job"])
