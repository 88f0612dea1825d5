"""The run ledger (cron_runs) and the job lease (cron_locks): migrations' runs concern."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from lib.db.port import Database
from lib.db.queries._parse import first
from lib.db.statuses import RunStatus


class RunStart(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: int
    acquired: bool
    started_at: datetime
    held_by: int | None = None
    # The job is paused (cron_jobs.enabled = false): recorded as skipped, nothing ran.
    paused: bool = False


@dataclass(frozen=True)
class RunRow:
    """One ledger row as `list_runs` gives it.

    Timestamps stay the database's own text: the API and the CLI pass them on
    exactly as Postgres wrote them, and a round trip through datetime would
    change that text.
    """

    id: int
    job: str
    trigger: str
    status: RunStatus
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    stats: dict[str, Any] | None
    error: str | None
    request_id: str | None
    dry_run: bool
    has_more: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRow:
        return cls(**{**row, "status": RunStatus(row["status"])})


async def begin_run(
    db: Database,
    *,
    job: str,
    trigger: str,
    lease_seconds: int,
    request_id: str,
    dry_run: bool,
    run_key: str,
) -> RunStart:
    """Take the job's lease and open a `running` row, or record a `skipped` one.

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
        p_run_key=run_key,
    )
    return RunStart.model_validate(first(rows, "begin_run"))


async def end_run(
    db: Database, *, run_id: int, status: RunStatus, stats: dict[str, Any], error: str | None, has_more: bool
) -> int | None:
    """Close the ledger row; its duration in ms, or None if the row was not ours to close."""
    rows = await db.call(
        "end_run", p_run_id=run_id, p_status=str(status), p_stats=stats, p_error=error, p_has_more=has_more
    )
    return int(rows[0]["duration_ms"]) if rows else None


async def list_runs(db: Database, *, job: str | None, limit: int) -> list[RunRow]:
    """Recent runs, newest first (runs still `running` past their lease show as abandoned)."""
    rows = await db.call("list_runs", p_job=job, p_limit=limit)
    return [RunRow.from_row(row) for row in rows]


class EmptyRunStart(RunStart):
    # Nothing was due: the run is already recorded (ok, the empty stats) and closed.
    finished: bool = False
    duration_ms: int | None = None
    # Requests held for a missing setting: {reason naming it: how many wait}.
    held: dict[str, int] = {}


async def begin_run_if_due(
    db: Database,
    *,
    job: str,
    trigger: str,
    lease_seconds: int,
    request_id: str,
    run_key: str,
    empty_stats: dict[str, Any],
    blocked: dict[str, str],
) -> EmptyRunStart:
    """begin_run, and end_run in the same call when nothing is due: the empty tick in one round trip.

    Only for jobs whose "nothing to do" the SQL can tell (run-requests).
    """
    rows = await db.call(
        "begin_run_if_due",
        p_job=job,
        p_trigger=trigger,
        p_lease_seconds=lease_seconds,
        p_empty_stats=empty_stats,
        p_request_id=request_id,
        p_run_key=run_key,
        p_blocked=blocked or None,
    )
    return EmptyRunStart.model_validate(first(rows, "begin_run_if_due"))
