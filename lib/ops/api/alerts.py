"""/api/ops/alerts: recent alerts with each channel's delivery state, and "Send test alert"."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.ops.api._common import PAGE_MAX, answering, database, json_object, page_answer, parse_query
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsReader, OpsWriter

router = APIRouter(prefix="/alerts", route_class=OpsRoute)


class AlertListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    # The id of the oldest alert of the last page: the next page is older.
    before: int | None = Field(None, ge=1, le=2**62)


@router.get("")
async def list_alerts(request: Request, access: OpsReader) -> Response:
    params = parse_query(AlertListParams, request)
    async with answering(access):
        page = await manage.list_alerts(database(access), access.settings, limit=params.limit, before_id=params.before)
    return page_answer(page)


@router.post("/test", status_code=201)
async def send_test_alert(request: Request, access: OpsWriter) -> JSONResponse:
    await json_object(request, empty_ok=True)
    async with answering(access):
        alert = await manage.send_test_alert(database(access), access.settings, requested_by=access.actor.requested_by)
    return JSONResponse({"alert": alert.model_dump(mode="json")}, status_code=201)
