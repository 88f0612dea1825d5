"""/api/ops/runs: the ledger, filtered by job and status."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.db.statuses import RunStatus
from lib.ops.api._common import OFFSET_MAX, PAGE_MAX, answering, database, page_answer, parse_query
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsReader

router = APIRouter(prefix="/runs", route_class=OpsRoute)


class RunListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A job's exact name; webhook jobs have no ledger rows of their own, so any name is a fair question.
    job: str | None = Field(None, max_length=200)
    status: RunStatus | None = None
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    offset: int = Field(0, ge=0, le=OFFSET_MAX)


@router.get("")
async def list_runs(request: Request, access: OpsReader) -> Response:
    params = parse_query(RunListParams, request)
    async with answering(access):
        page = await manage.list_runs(
            database(access),
            job=params.job,
            status=None if params.status is None else str(params.status),
            limit=params.limit,
            offset=params.offset,
        )
    return page_answer(page)
