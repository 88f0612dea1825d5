"""/api/ops/workers: list, add and revoke workers (an admin's action; today, whoever holds the cron secret).

Adding answers the worker's token once; nothing shows it again (the
database keeps only its hash).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib.ops.api._common import answering, database, json_object, parse_query, validate_body
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsReader, OpsWriter
from lib.workers import manage

router = APIRouter(prefix="/workers", route_class=OpsRoute)


class WorkerListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, max_length=200)


class NewWorkerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    project_id: str = Field("default", max_length=200)


@router.get("")
async def list_workers(request: Request, access: OpsReader) -> Response:
    params = parse_query(WorkerListParams, request)
    async with answering(access):
        workers = await manage.list_workers(database(access), project=params.project)
    return JSONResponse({"workers": workers})


@router.post("", status_code=201)
async def add_worker(request: Request, access: OpsWriter) -> JSONResponse:
    body = validate_body(NewWorkerBody, await json_object(request))
    async with answering(access):
        added = await manage.add_worker(database(access), name=body.name, project=body.project_id)
    # The only answer that ever carries the token: the page shows it once.
    return JSONResponse({"worker": added.worker, "token": added.token}, status_code=201)


@router.post("/{worker_id}/revoke")
async def revoke_worker(worker_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        worker = await manage.revoke_worker(database(access), worker_id)
    return JSONResponse({"worker": worker})
