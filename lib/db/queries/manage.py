"""Job management: migrations' manage concern (lib/manage: the CLI's `jobs` and `retry`, the console's API).

Every read is one call that answers one row: a page of objects as a JSON
array, built by SQL (the views `ops_job_objects`, `ops_request_objects`,
`ops_run_objects`) with timestamps in UTC without an offset. A timestamp
Python cannot hold (±infinity, BC, past 9999, which rows written by hand can
contain) is read as None, so a page of rows other apps wrote still parses. Errors the caller can act on come
back as a `DatabaseError` whose code is PT404, PT409 or PT422 and whose
message starts with the field (lib/manage/errors.py turns them into
`ManageError`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict

from lib.db.port import Database
from lib.db.queries._parse import first

JobKindName = Literal["builtin", "webhook", "worker"]
ScheduleTypeName = Literal["vercel", "cron", "interval", "once", "manual"]
RequestStatusName = Literal["queued", "running", "done", "error"]
RunStatusName = Literal["running", "ok", "partial", "skipped", "error"]
JobFilter = Literal["all", "enabled", "paused", "failing"]


def utc_instant(value: Any) -> datetime | None:
    """A timestamp as the views write it (UTC, no offset) as an aware datetime; None when Python cannot hold it."""
    if value is None or isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return _naive_as_utc(value, moment)
    else:
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _naive_as_utc(text: str, moment: datetime) -> datetime:
    """`moment` (parsed from `text`, no offset) in UTC.

    Parsing the text again with `+00:00` costs a fifth of `.replace(tzinfo=UTC)`,
    and this runs six times per job of a page: the jobs panel's hottest line
    (bench/console.py). A text the offset does not apply to (a bare date, which
    fromisoformat reads as naive even with it) goes the slow way.
    """
    try:
        aware = datetime.fromisoformat(text + "+00:00")
    except ValueError:
        aware = moment
    return aware if aware.tzinfo is UTC else moment.replace(tzinfo=UTC)


# In UTC, printed with `Z` by pydantic's JSON.
Instant = Annotated[datetime | None, BeforeValidator(utc_instant)]


class JobRecord(BaseModel):
    """One cron_jobs row as `_ops_job_json` writes it.

    `next_run_at` is the row's own (what the schedule job stored); lib/manage
    turns it into the next fire a reader should see. `resumed_at` is kept for
    that and is not part of the console's Job object.
    """

    model_config = ConfigDict(frozen=True)

    id: UUID
    project_id: str
    name: str
    kind: JobKindName
    target: str | None
    payload: Any
    schedule_type: ScheduleTypeName
    schedule: str | None
    timezone: str
    enabled: bool
    source: str
    editable: bool
    # Incremented by every change to the definition or enabled (migrations/repeatable/job_versions.sql).
    version: int = 1
    next_run_at: Instant
    last_run_at: Instant
    last_status: str | None
    last_duration_ms: int | None
    schedule_error: str | None
    fired_at: Instant
    resumed_at: Instant
    created_at: Instant
    updated_at: Instant
    # A worker job's worker and mirrored fields (WorkerOfJob in lib/manage/models.py); None for other kinds.
    worker: dict[str, Any] | None = None
    # Noise control (alert_controls.sql); durations in seconds, realert_after None: never.
    alert_after_failures: int = 1
    realert_after: int | None = None
    overdue_grace: int = 300
    alerts_enabled: bool = True


class RequestRecord(BaseModel):
    """One cron_run_requests row with its job's name, as `_ops_request_json` writes it (the console's Request)."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    job_id: UUID
    job_name: str
    project_id: str
    status: RequestStatusName
    # Queued behind a paused job (it runs after the resume), or held for a missing setting.
    held: bool
    # The missing setting a held request waits for, named; None otherwise.
    held_reason: str | None = None
    requested_by: str | None
    requested_at: Instant
    picked_up_at: Instant
    completed_at: Instant
    attempts: int
    max_attempts: int
    available_at: Instant
    result: Any
    payload: Any
    # The failed request this one retries.
    retry_of: UUID | None
    # The request that retried this one: it cannot be retried again.
    retried_by: UUID | None = None


class RunRecord(BaseModel):
    """One ledger row, as `_ops_run_json` writes it (the console's Run)."""

    model_config = ConfigDict(frozen=True)

    id: int
    job: str
    trigger: str
    status: RunStatusName
    started_at: Instant
    finished_at: Instant
    duration_ms: int | None
    stats: Any
    error: str | None
    request_id: str | None
    dry_run: bool
    has_more: bool


class JobsPage(BaseModel):
    jobs: list[JobRecord]
    projects: list[str]
    has_more: bool


class JobHistory(BaseModel):
    job: JobRecord
    runs: list[RunRecord]
    requests: list[RequestRecord]


class RequestsPage(BaseModel):
    requests: list[RequestRecord]
    has_more: bool


class RunsPage(BaseModel):
    runs: list[RunRecord]
    has_more: bool


async def ops_list_jobs(
    db: Database, *, project: str | None, q: str | None, filter: JobFilter, limit: int, offset: int
) -> JobsPage:
    """A page of jobs in (project, name) order, every project's id, and whether more jobs follow: one call."""
    rows = await db.call("ops_list_jobs", p_project=project, p_q=q, p_filter=filter, p_limit=limit, p_offset=offset)
    return JobsPage.model_validate(first(rows, "ops_list_jobs"))


async def ops_get_job(
    db: Database, *, job_id: UUID | None = None, project: str = "default", name: str | None = None, history: int = 20
) -> JobHistory | None:
    """One job by id or by (project, name), with its latest `history` runs and requests; None when there is none."""
    rows = await db.call("ops_get_job", p_job_id=job_id, p_project=project, p_name=name, p_history=history)
    return JobHistory.model_validate(rows[0]) if rows else None


async def ops_create_job(
    db: Database,
    *,
    project_id: str,
    name: str,
    kind: str,
    target: str | None,
    payload: dict[str, Any],
    schedule_type: str,
    schedule: str | None,
    timezone: str,
    enabled: bool,
    source: str = "user",
    next_run_at: datetime | None = None,
) -> JobRecord:
    """Insert a job; its name is unique in its project (PT409 when taken). `next_run_at`: its first fire."""
    rows = await db.call(
        "ops_create_job",
        p_project_id=project_id,
        p_name=name,
        p_kind=kind,
        p_target=target,
        p_payload=payload,
        p_schedule_type=schedule_type,
        p_schedule=schedule,
        p_timezone=timezone,
        p_enabled=enabled,
        p_source=source,
        p_next_run_at=next_run_at,
    )
    return JobRecord.model_validate(first(rows, "ops_create_job")["job"])


async def ops_update_job(
    db: Database, *, job_id: UUID, changes: dict[str, Any], version: int | None = None
) -> JobRecord:
    """Set the given fields of a database-defined job (PT404 missing, PT409 vercel row or name taken).

    `version`: the one the edit was based on; PT409 (`version: ...`) when the job is at another now.
    """
    rows = await db.call("ops_update_job_at_version", p_job_id=job_id, p_changes=changes, p_version=version)
    return JobRecord.model_validate(first(rows, "ops_update_job_at_version")["job"])


async def ops_delete_job(db: Database, *, job_id: UUID) -> bool:
    """Delete a database-defined job and its requests; False when there was no such job."""
    rows = await db.call("ops_delete_job", p_job_id=job_id)
    return bool(rows)


async def ops_set_job_enabled(db: Database, *, job_id: UUID, enabled: bool) -> JobRecord:
    """Pause (False) or resume (True) a job; the job as it now is."""
    rows = await db.call("ops_set_job_enabled", p_job_id=job_id, p_enabled=enabled)
    return JobRecord.model_validate(first(rows, "ops_set_job_enabled")["job"])


async def ops_run_now(
    db: Database, *, job_id: UUID, requested_by: str, payload: dict[str, Any] | None, dedup_key: str
) -> RequestRecord:
    """Queue a run request for a job (PT409 when paused); a repeat with the same key answers with the first."""
    rows = await db.call(
        "ops_run_now", p_job_id=job_id, p_requested_by=requested_by, p_payload=payload, p_dedup_key=dedup_key
    )
    return RequestRecord.model_validate(first(rows, "ops_run_now")["request"])


async def ops_retry_request(db: Database, *, request_id: UUID, requested_by: str, dedup_key: str) -> RequestRecord:
    """Queue a retry of a request that ended `error` (PT409 otherwise), linked by retry_of."""
    rows = await db.call(
        "ops_retry_request", p_request_id=request_id, p_requested_by=requested_by, p_dedup_key=dedup_key
    )
    return RequestRecord.model_validate(first(rows, "ops_retry_request")["request"])


async def ops_list_requests(
    db: Database,
    *,
    project: str | None,
    job_id: UUID | None,
    status: str | None,
    limit: int,
    offset: int,
) -> RequestsPage:
    """A page of run requests, newest first: one call."""
    rows = await db.call(
        "ops_list_requests", p_project=project, p_job_id=job_id, p_status=status, p_limit=limit, p_offset=offset
    )
    return RequestsPage.model_validate(first(rows, "ops_list_requests"))


async def ops_get_request(db: Database, *, request_id: UUID) -> RequestRecord | None:
    rows = await db.call("ops_get_request", p_request_id=request_id)
    return RequestRecord.model_validate(rows[0]["request"]) if rows else None


async def ops_list_runs(db: Database, *, job: str | None, status: str | None, limit: int, offset: int) -> RunsPage:
    """A page of the ledger, newest first: one call."""
    rows = await db.call("ops_list_runs", p_job=job, p_status=status, p_limit=limit, p_offset=offset)
    return RunsPage.model_validate(first(rows, "ops_list_runs"))
