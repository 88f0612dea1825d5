"""The HTTP face: /api/cron/<job>, /api/cron/runs and /api/health.

Every answer is JSON, and no path answers with a redirect: Vercel's cron
caller does not follow one, so `/api/cron/x/` is served exactly like
`/api/cron/x`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lib.auth import Unauthorized, check_authorization
from lib.db import Database, DatabaseError, DatabaseUnavailable, database_for
from lib.jobs.registry import JOBS
from lib.runner import new_request_id, one_line, run_job
from lib.settings import Settings, SettingsError, get_settings

log = logging.getLogger("cronrelay.app")

RUNS_MAX_LIMIT = 1000


class RunParams(BaseModel):
    """Query parameters of a job route. Unknown names are refused: a typo such
    as `dryrun=1` must not silently become a real run."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
    limit: int | None = Field(None, ge=1)


class RunsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job: str | None = None
    limit: int = Field(50, ge=1, le=RUNS_MAX_LIMIT)


class ProblemError(Exception):
    """An answer other than a run: status code plus one clear line."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error, **extra}


def _parse(model: type[BaseModel], request: Request) -> Any:
    params = dict(request.query_params)
    if len(params) != len(request.query_params.multi_items()):
        raise ProblemError(422, "each query parameter may be given once")
    try:
        return model.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "query"
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            raise ProblemError(422, f"unknown query parameter {name!r} (allowed: {allowed})") from None
        raise ProblemError(422, f"invalid query parameter {name!r}: {first['msg']}") from None


def _trigger(request: Request) -> str:
    agent = request.headers.get("user-agent", "")
    if agent.startswith("vercel-cron/"):
        return "vercel-cron"
    # pg_net sends `pg_net/<version>` on every request: Supabase Cron (python -m lib supabase-cron).
    return "supabase-cron" if agent.startswith("pg_net/") else "manual"


def create_app(settings_source: Callable[[], Settings] = get_settings) -> FastAPI:
    app = FastAPI(title="cronrelay", redirect_slashes=False, docs_url=None, redoc_url=None, openapi_url=None)

    def settings() -> Settings:
        # Read per request (cached by the source) so a misconfiguration is a
        # 503 naming the variable, not a function that fails to import.
        try:
            return settings_source()
        except SettingsError as error:
            log.error("configuration error: %s", error)
            raise ProblemError(503, str(error)) from None

    def guard(request: Request) -> Settings:
        current = settings()
        try:
            check_authorization(current, request.headers.get("authorization"))
        except SettingsError as error:
            raise ProblemError(503, str(error)) from None
        except Unauthorized:
            raise ProblemError(401, "unauthorized") from None
        return current

    def database(current: Settings) -> Database:
        try:
            return database_for(current)
        except SettingsError as error:
            raise ProblemError(503, str(error)) from None

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.body, status_code=error.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = "not found" if error.status_code == 404 else str(error.detail).lower()
        return JSONResponse({"error": message}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request"}, status_code=422)

    @app.get("/api/health")
    @app.get("/api/health/", include_in_schema=False)
    async def health() -> JSONResponse:
        try:
            current = settings_source()
            db = database_for(current)
        except SettingsError as error:
            return JSONResponse({"status": "error", "database": "not configured", "error": str(error)}, 503)
        try:
            await db.call("health_check")
        except DatabaseError as error:
            problem = current.redact(one_line(error))
            log.error("health: database unreachable: %s", problem)
            return JSONResponse(
                {"status": "error", "database": "unreachable", "adapter": db.name, "error": problem}, 503
            )
        return JSONResponse({"status": "ok", "database": "ok", "adapter": db.name})

    @app.get("/api/cron/runs")
    @app.get("/api/cron/runs/", include_in_schema=False)
    async def runs(request: Request) -> JSONResponse:
        current = guard(request)
        params: RunsParams = _parse(RunsParams, request)
        if params.job is not None and params.job not in JOBS:
            raise ProblemError(422, f"unknown job {params.job!r} (known: {', '.join(JOBS)})")
        db = database(current)
        try:
            rows = await db.call("list_runs", p_job=params.job, p_limit=params.limit)
        except DatabaseError as error:
            status = 503 if isinstance(error, DatabaseUnavailable) else 500
            raise ProblemError(status, current.redact(one_line(error))) from None
        return JSONResponse({"runs": rows})

    async def run_route(job_name: str, request: Request) -> JSONResponse:
        current = guard(request)
        job = JOBS.get(job_name)
        if job is None:
            raise ProblemError(404, f"unknown job {job_name!r} (known: {', '.join(JOBS)})")
        params: RunParams = _parse(RunParams, request)
        if params.limit is not None and params.limit > job.max_limit:
            raise ProblemError(422, f"invalid query parameter 'limit': at most {job.max_limit} for {job.name}")
        db = database(current)
        problem = job.config_problem(current)
        if problem:
            log.error("%s cannot run: %s", job.name, problem)
            raise ProblemError(503, problem)
        try:
            report = await run_job(
                job,
                db=db,
                settings=current,
                trigger=_trigger(request),
                request_id=request.headers.get("x-vercel-id") or new_request_id(),
                dry_run=params.dry_run,
                limit=params.limit,
                jobs=JOBS,
            )
        except DatabaseError as error:
            # The run could not even be opened: there is no ledger row to point at.
            problem = current.redact(one_line(error))
            log.error("%s: could not start a run: %s", job.name, problem)
            status = 503 if isinstance(error, DatabaseUnavailable) else 500
            return JSONResponse(
                {"job": job.name, "run_id": None, "status": "error", "error": problem}, status_code=status
            )
        return JSONResponse(report.body(), status_code=500 if report.status == "error" else 200)

    for path in ("/api/cron/{job_name}", "/api/cron/{job_name}/"):
        app.add_api_route(path, run_route, methods=["GET", "POST"], include_in_schema=False)

    return app
