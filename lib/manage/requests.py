"""Run requests: list, show, and retry one that failed."""

from __future__ import annotations

import uuid
from uuid import UUID

from lib.db.port import Database
from lib.db.queries import manage as queries
from lib.manage.errors import ManageError, id_of, translated
from lib.manage.jobs import page_bounds
from lib.manage.models import RequestPage, RequestView
from lib.manage.validate import invalid

STATUSES = ("queued", "running", "done", "error")


def request_id_of(ref: UUID | str) -> UUID:
    return id_of(ref, "run request")


async def list_requests(
    db: Database,
    *,
    project: str | None = None,
    job_id: UUID | str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RequestPage:
    """A page of run requests, newest first (`held`: queued behind a paused job): one round trip."""
    if status is not None and status not in STATUSES:
        raise invalid("status", "status must be queued, running, done or error")
    limit, offset = page_bounds(limit, offset)
    job = None
    if job_id is not None:
        try:
            job = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
        except ValueError:
            raise invalid("job_id", "job_id must be a job's id (a UUID)") from None
    with translated():
        page = await queries.ops_list_requests(
            db, project=project, job_id=job, status=status, limit=limit, offset=offset
        )
    return RequestPage(
        requests=[RequestView.model_validate(dict(request)) for request in page.requests],
        has_more=page.has_more,
    )


async def get_request(db: Database, request_id: UUID | str) -> RequestView:
    wanted = request_id_of(request_id)
    with translated():
        found = await queries.ops_get_request(db, request_id=wanted)
    if found is None:
        raise ManageError(f"no run request with id {str(wanted)!r}", status=404)
    return RequestView.model_validate(dict(found))


async def retry_request(db: Database, request_id: UUID | str, *, requested_by: str) -> RequestView:
    """A new request for the same job and payload, whose retry_of is the old one.

    Only a request that ended `error` can be retried (409 otherwise), and not
    while its job is paused (409).
    """
    with translated():
        request = await queries.ops_retry_request(
            db,
            request_id=request_id_of(request_id),
            requested_by=requested_by,
            dedup_key=f"retry:{uuid.uuid4()}",
        )
    return RequestView.model_validate(dict(request))
