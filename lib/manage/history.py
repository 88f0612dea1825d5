"""Run requests as history a person can use: every attempt, cancel, and retry or cancel many by filter."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel

from lib.db.port import Database
from lib.db.queries import request_history as queries
from lib.db.queries.request_history import AttemptRecord, BulkAction
from lib.manage.errors import ManageError, translated
from lib.manage.models import RequestView
from lib.manage.requests import STATUSES, get_request, request_id_of
from lib.manage.validate import invalid

# One call changes at most this many requests (each call stays well inside
# PostgREST's statement timeout); `has_more` says to call again.
BULK_LIMIT = 500


class RequestDetail(BaseModel):
    """A request with every attempt it made, oldest first, and the request that retried it."""

    request: RequestView
    attempts: list[AttemptRecord]


class BulkResult(BaseModel):
    """What a bulk action matched and did. A dry run did nothing: `done` is 0."""

    action: BulkAction
    dry_run: bool
    matched: int
    done: int
    has_more: bool


async def get_request_detail(db: Database, request_id: UUID | str) -> RequestDetail:
    """A request and its attempts: 404 when there is none."""
    request = await get_request(db, request_id)
    with translated():
        history = await queries.ops_request_history(db, request_id=request.id)
    return RequestDetail(request=request, attempts=history.attempts)


async def cancel_request(db: Database, request_id: UUID | str, *, by: str) -> RequestView:
    """End a queued (or held) request: `error`, result.error "cancelled by <by>".

    A running request is not interrupted (409), nor is a finished one; a
    repeat of a cancel answers with the cancelled request.
    """
    with translated():
        request = await queries.ops_cancel_request(db, request_id=request_id_of(request_id), by=by)
    return RequestView.model_validate(dict(request))


async def bulk_requests(
    db: Database,
    action: BulkAction,
    *,
    by: str,
    project: str | None = None,
    job_id: UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = True,
) -> BulkResult:
    """Retry every request that ended `error` and has no retry yet, or cancel every queued one, that matches.

    The filter: project, job, requested at or after `since` and before
    `until`. A dry run (the default) only counts, so the count can be shown
    before anything is done.
    """
    if action not in ("retry", "cancel"):
        raise invalid("action", "action must be retry or cancel")
    if status is not None and status not in STATUSES:
        raise invalid("status", "status must be queued, running, done or error")
    since, until = _utc("since", since), _utc("until", until)
    with translated():
        counted = await queries.ops_bulk_requests(
            db,
            action=action,
            by=by,
            project=project,
            job_id=job_id,
            status=status,
            since=since,
            until=until,
            dry_run=dry_run,
            limit=BULK_LIMIT,
        )
    return BulkResult(action=action, dry_run=dry_run, **counted.model_dump())


def _utc(field: str, moment: datetime | None) -> datetime | None:
    """A filter's instant in UTC: 422 naming the field without a time zone, or past the years Python holds."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise invalid(field, f"{field} needs a time zone (for example 2026-12-01T00:00:00Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise invalid(field, f"{field} is out of range: it falls outside the years 1 to 9999") from None


__all__ = ["BulkResult", "ManageError", "RequestDetail", "bulk_requests", "cancel_request", "get_request_detail"]
