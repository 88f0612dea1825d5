"""/api/ops/jobs: list, show, create, update, delete, run now, pause, resume."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.manage import JobInput
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
from lib.ops.session import OpsError, OpsReader, OpsWriter

router = APIRouter(prefix="/jobs", route_class=OpsRoute)

EDITABLE_FIELDS = frozenset(JobInput.model_fields)


class JobListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, max_length=200)
    q: str | None = Field(None, max_length=200)
    filter: Literal["all", "enabled", "paused", "failing"] = "all"
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    offset: int = Field(0, ge=0, le=OFFSET_MAX)


class RunNowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: dict[str, Any] | None = None


@router.get("")
async def list_jobs(request: Request, access: OpsReader) -> Response:
    params = parse_query(JobListParams, request)
    async with answering(access):
        page = await manage.list_jobs(
            database(access),
            project=params.project,
            q=params.q,
            filter=params.filter,
            limit=params.limit,
            offset=params.offset,
        )
    return page_answer(page)


@router.post("", status_code=201)
async def create_job(request: Request, access: OpsWriter) -> JSONResponse:
    # JobInput refuses an unknown field, so a misspelt one is a 422, not silently dropped.
    data = validate_body(JobInput, await json_object(request))
    async with answering(access):
        job = await manage.create_job(
            database(access),
            data,
            allow_http_webhooks=access.settings.allow_http_webhooks,
            allow_private_targets=access.settings.allow_private_targets,
        )
    return JSONResponse({"job": job.model_dump(mode="json")}, status_code=201)


@router.get("/{job_id}")
async def show_job(job_id: str, access: OpsReader) -> Response:
    async with answering(access):
        detail = await manage.get_job(database(access), job_id)
    answer = page_answer(detail)
    # What an edit sends back as If-Match (or "version").
    answer.headers["ETag"] = f'"{detail.job.version}"'
    return answer


@router.patch("/{job_id}")
async def update_job(job_id: str, request: Request, access: OpsWriter) -> JSONResponse:
    changes = await json_object(request)
    version = based_on(request.headers.get("if-match"), changes.pop("version", None))
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        allowed = ", ".join([*JobInput.model_fields, "version"])
        raise OpsError(422, f"unknown field {unknown[0]!r} (allowed: {allowed})", field=unknown[0])
    db = database(access)
    try:
        async with answering(access):
            job = await manage.update_job(
                db,
                job_id,
                changes,
                allow_http_webhooks=access.settings.allow_http_webhooks,
                allow_private_targets=access.settings.allow_private_targets,
                version=version,
            )
    except OpsError as error:
        if error.status != 409 or error.body.get("field") != "version":
            raise
        # The 409 carries the job as it is now, so the page can show what the other edit did.
        async with answering(access):
            current = await manage.get_job(db, job_id)
        raise OpsError(409, error.body["error"], field="version", job=current.job.model_dump(mode="json")) from None
    return JSONResponse({"job": job.model_dump(mode="json")})


def based_on(if_match: str | None, in_body: Any) -> int | None:
    """The version an edit was based on, from `If-Match` ("3", W/"3" or 3) or the body's "version"; None: unchecked."""
    versions: list[int] = []
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise OpsError(422, "If-Match must be the job's version, as its ETag gives it", field="version")
        versions.append(int(text))
    if in_body is not None:
        if not isinstance(in_body, int) or isinstance(in_body, bool) or not 1 <= in_body <= 2**62:
            raise OpsError(422, "version must be the job's version (a positive whole number)", field="version")
        versions.append(in_body)
    if len(set(versions)) > 1:
        raise OpsError(422, "If-Match and version name different versions", field="version")
    return versions[0] if versions else None


@router.delete("/{job_id}")
async def delete_job(job_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        await manage.delete_job(database(access), job_id)
    return JSONResponse({"deleted": True})


@router.post("/{job_id}/run", status_code=201)
async def run_job(job_id: str, request: Request, access: OpsWriter) -> JSONResponse:
    body = validate_body(RunNowBody, await json_object(request, empty_ok=True))
    async with answering(access):
        db = database(access)
        queued = await manage.run_now(db, job_id, requested_by=access.actor.requested_by, payload=body.payload)
        # Run now runs now: executed in this call; the answer carries the settled request.
        executed = await manage.execute_now(db, access.settings, queued)
    return JSONResponse(executed.model_dump(mode="json"), status_code=201)


@router.post("/{job_id}/pause")
async def pause_job(job_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        job = await manage.pause_job(database(access), job_id)
    return JSONResponse({"job": job.model_dump(mode="json")})


@router.post("/{job_id}/resume")
async def resume_job(job_id: str, access: OpsWriter) -> JSONResponse:
    async with answering(access):
        job = await manage.resume_job(database(access), job_id)
    return JSONResponse({"job": job.model_dump(mode="json")})
