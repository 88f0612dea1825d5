"""The run ledger (cron_runs) and the one JSON log line per run."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from lib.db import Database


class RunStart(BaseModel):
    run_id: int
    acquired: bool
    started_at: datetime
    held_by: int | None = None
    # The job is paused (cron_jobs.enabled = false): recorded as skipped, nothing ran.
    paused: bool = False


class RunReport(BaseModel):
    """What a run answers with, and what its log line says."""

    job: str
    run_id: int | None
    status: str  # ok | partial | skipped | error
    trigger: str
    request_id: str
    started_at: datetime | None = None
    duration_ms: int = 0
    dry_run: bool = False
    has_more: bool = False
    stats: dict[str, Any] = {}
    error: str | None = None

    def body(self) -> dict[str, Any]:
        """The HTTP answer: the full report, or the short error shape on failure."""
        if self.status == "error":
            return {
                "job": self.job,
                "run_id": self.run_id,
                "status": "error",
                "error": self.error,
                "trigger": self.trigger,
                "request_id": self.request_id,
            }
        data = self.model_dump(exclude={"error"})
        data["started_at"] = iso_z(self.started_at)
        return data


def iso_z(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_run_key() -> str:
    return uuid.uuid4().hex


async def begin_run(
    db: Database,
    *,
    job: str,
    trigger: str,
    lease_seconds: int,
    request_id: str,
    dry_run: bool,
    run_key: str | None = None,
) -> RunStart:
    """Open the run's ledger row and take the job's lease.

    `run_key` (one per run) makes the call safe for the adapters to repeat
    after a read timeout: a repeat returns the run the first call opened.
    """
    rows = await db.call(
        "begin_run",
        p_job=job,
        p_trigger=trigger,
        p_lease_seconds=lease_seconds,
        p_request_id=request_id,
        p_dry_run=dry_run,
        p_run_key=run_key or new_run_key(),
    )
    return RunStart.model_validate(rows[0])


async def end_run(
    db: Database, *, run_id: int, status: str, stats: dict[str, Any], error: str | None, has_more: bool
) -> int | None:
    """Close the ledger row; returns its duration in ms, or None if the row was not ours to close."""
    rows = await db.call("end_run", p_run_id=run_id, p_status=status, p_stats=stats, p_error=error, p_has_more=has_more)
    return int(rows[0]["duration_ms"]) if rows else None


def log_run(report: RunReport) -> None:
    """One line per run on stdout: what operators read in Vercel's cron logs."""
    line = {
        "event": "cron_run",
        "job": report.job,
        "run_id": report.run_id,
        "trigger": report.trigger,
        "status": report.status,
        "duration_ms": report.duration_ms,
        "stats": report.stats,
        "request_id": report.request_id,
        "dry_run": report.dry_run,
        "has_more": report.has_more,
    }
    if report.error:
        line["error"] = report.error
    sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()
