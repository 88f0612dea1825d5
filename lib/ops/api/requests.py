"""/api/ops/requests: run requests: list, show (with every attempt), retry, cancel, and retry or cancel by filter."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.db.statuses import RequestStatus
from lib.ops.api._common import (
    OFFSET_MAX,
    PAGE_MAX,
    answering,
    database,
    json_object,
    page_answer,
    parse_query,
    validate_body,
)
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsReader, OpsWriter

router = APIRouter(prefix="/requests", route_class=OpsRoute)


class RequestListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, max_length=200)
    job_id: UUID | None = None
    status: RequestStatus | None = None
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    offset: int = Field(0, ge=0, le=OFFSET_MAX)


@router.get("")
async def list_requests(request: Request, access: OpsReader) -> Response:
    params = parse_query(RequestListParams, request)
    async with answering(access):
        page = await manage.list_requests(
            database(access),
            project=params.project,
            job_id=params.job_id,
            status=None if params.status is None else str(params.status),
            limit=params.limit,
            offset=params.offset,
        )
    return page_answer(page)


class BulkBody(BaseModel):
    """Which requests a bulk retry or cancel takes; without `"dry_run": false` it only counts them."""

    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, max_length=200)
    job_id: UUID | None = None
    status: RequestStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = True


@router.post("/retry")
async def retry_many(request: Request, access: OpsWriter) -> JSONResponse:
    """Retry every request that ended error (and has no retry yet) matching the filter; dry_run counts."""
    return await _bulk("retry", request, access)


@router.post("/cancel")
async def cancel_many(request: Request, access: OpsWriter) -> JSONResponse:
    """Cancel every queued (or held) request matching the filter; dry_run counts."""
    return await _bulk("cancel", request, access)


async def _bulk(action: Literal["retry", "cancel"], request: Request, access: OpsWriter) -> JSONResponse:
    body = validate_body(BulkBody, await json_object(request, empty_ok=True))
    async with answering(access):
        result = await manage.bulk_requests(
            database(access),
            action,
            by=access.actor.requested_by,
            project=body.project,
            job_id=body.job_id,
            status=None if body.status is None else str(body.status),
            since=body.since,
            until=body.until,
            dry_run=body.dry_run,
        )
    return JSONResponse(result.model_dump(mode="json"))


@router.get("/{request_id}")
async def show_request(request_id: str, access: OpsReader) -> Response:
    """The request and every attempt it made (when, how long, status code or error, the answer's first 2 KB)."""
    async with answering(access):
        found = await manage.get_request_detail(database(access), request_id)
    return page_answer(found)


@router.post("/{request_id}/cancel")
async def cancel_request(request_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        cancelled = await manage.cancel_request(database(access), request_id, by=access.actor.requested_by)
    return JSONResponse({"request": cancelled.model_dump(mode="json")})


@router.post("/{request_id}/retry", status_code=201)
async def retry_request(request_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        db = database(access)
        retried = await manage.retry_request(db, request_id, requested_by=access.actor.requested_by)
        # Like Run now, a retry runs in this call; the answer carries the settled request.
        executed = await manage.execute_now(db, access.settings, retried)
    return JSONResponse(executed.model_dump(mode="json"), status_code=201)
