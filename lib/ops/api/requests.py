"""/api/ops/requests: run requests, list, show and retry."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.db.statuses import RequestStatus
from lib.ops.api._common import OFFSET_MAX, PAGE_MAX, answering, database, page_answer, parse_query
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


@router.get("/{request_id}")
async def show_request(request_id: str, access: OpsReader) -> JSONResponse:
    async with answering(access):
        found = await manage.get_request(database(access), request_id)
    return JSONResponse({"request": found.model_dump(mode="json")})


@router.post("/{request_id}/retry", status_code=201)
async def retry_request(request_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        db = database(access)
        retried = await manage.retry_request(db, request_id, requested_by="ops")
        # Like Run now, a retry runs in this call; the answer carries the settled request.
        executed = await manage.execute_now(db, access.settings, retried)
    return JSONResponse(executed.model_dump(mode="json"), status_code=201)
