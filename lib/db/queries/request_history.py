"""A run request's history, cancel, and retry or cancel by filter: migrations/repeatable/request_history.sql.

Errors the caller can act on are PT404/PT409/PT422 with `<field>: <one line>`
messages, as in lib/db/queries/manage.py (lib/manage/errors.py reads them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from lib.db.port import Database
from lib.db.queries._parse import first
from lib.db.queries.manage import Instant, RequestRecord

BulkAction = Literal["retry", "cancel"]


class AttemptRecord(BaseModel):
    """One attempt of a run request, as cron_run_requests_attempt recorded it."""

    attempt: int
    started_at: Instant
    finished_at: Instant
    duration_ms: int | None
    # done | error | retry (failed, tried again later) | abandoned (no result before the lease expired)
    outcome: str
    status_code: int | None
    error: str | None
    # The answer's first 2 KB.
    body: str | None


class RequestHistory(BaseModel):
    attempts: list[AttemptRecord]
    retried_by: UUID | None


class BulkCount(BaseModel):
    matched: int
    done: int
    has_more: bool


async def ops_request_history(db: Database, *, request_id: UUID) -> RequestHistory:
    """Every attempt of a request, oldest first, and the request that retried it: one call."""
    rows = await db.call("ops_request_history", p_request_id=request_id)
    return RequestHistory.model_validate(first(rows, "ops_request_history"))


async def ops_cancel_request(db: Database, *, request_id: UUID, by: str) -> RequestRecord:
    """End a queued (or held) request as `error`, "cancelled by <by>" (PT409 when running or finished)."""
    rows = await db.call("ops_cancel_request", p_request_id=request_id, p_by=by)
    return RequestRecord.model_validate(first(rows, "ops_cancel_request")["request"])


async def ops_bulk_requests(
    db: Database,
    *,
    action: BulkAction,
    by: str,
    project: str | None,
    job_id: UUID | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    limit: int,
) -> BulkCount:
    """Retry (requests that ended error, not yet retried) or cancel (queued ones) by filter; dry_run counts only."""
    rows = await db.call(
        "ops_bulk_requests",
        p_action=action,
        p_by=by,
        p_project=project,
        p_job_id=job_id,
        p_status=status,
        p_since=since,
        p_until=until,
        p_dry_run=dry_run,
        p_limit=limit,
    )
    return BulkCount.model_validate(first(rows, "ops_bulk_requests"))
