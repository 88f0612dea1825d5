"""What a run reports, and the one JSON log line per run.

The ledger's SQL calls (begin_run, end_run, list_runs) are in lib/db/queries/runs.py.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from lib.db.statuses import RunStatus, Trigger


class RunReport(BaseModel):
    """What a run answers with, and what its log line says."""

    job: str
    run_id: int | None
    status: RunStatus
    trigger: Trigger
    request_id: str
    started_at: datetime | None = None
    duration_ms: int = 0
    dry_run: bool = False
    has_more: bool = False
    stats: dict[str, Any] = {}
    error: str | None = None

    def body(self) -> dict[str, Any]:
        """The HTTP answer: the full report, or the short error shape on failure."""
        if self.status == RunStatus.ERROR:
            return {
                "job": self.job,
                "run_id": self.run_id,
                "status": RunStatus.ERROR,
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
