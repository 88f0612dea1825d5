"""The HTTP face: /api/cron/<job>, /api/cron/runs and /api/health.

Every answer is JSON, and no path answers with a redirect: Vercel's cron
caller does not follow one, so `/api/cron/x/` is served exactly like
`/api/cron/x`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from lib.auth import Unauthorized, accepted_secrets, check_authorization
from lib.body_limit import BodyLimit
from lib.db import Database, DatabaseError, DatabaseUnavailable, database_for
from lib.db.queries.alerts import alert_health
from lib.db.queries.health import health_check
from lib.db.queries.runs import list_runs
from lib.db.statuses import RunStatus, Trigger
from lib.problems import ProblemError
from lib.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from lib.jobs.base import Job

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


def _trigger(request: Request) -> Trigger:
    agent = request.headers.get("user-agent", "")
    if agent.startswith("vercel-cron/"):
        return Trigger.VERCEL_CRON
    # pg_net sends `pg_net/<version>` on every request: Supabase Cron (python -m lib supabase-cron).
    return Trigger.SUPABASE_CRON if agent.startswith("pg_net/") else Trigger.MANUAL


# -- dependencies ---------------------------------------------------------------


def _source(request: Request) -> Callable[[], Settings]:
    source: Callable[[], Settings] = request.app.state.settings_source
    return source


async def current_settings(request: Request) -> Settings:
    """Read per request (cached by the source) so a misconfiguration is a
    503 naming the variable, not a function that fails to import."""
    try:
        return _source(request)()
    except SettingsError as error:
        log.error("configuration error: %s", error)
        raise ProblemError(503, str(error)) from None


async def authorized(request: Request, settings: Annotated[Settings, Depends(current_settings)]) -> Settings:
    """The settings, once the request has shown the bearer secret."""
    try:
        check_authorization(settings, request.headers.get("authorization"))
    except SettingsError as error:
        raise ProblemError(503, str(error)) from None
    except Unauthorized:
        raise ProblemError(401, "unauthorized") from None
    return settings


Authorized = Annotated[Settings, Depends(authorized)]


def _jobs() -> Mapping[str, Job]:
    """The registry, imported on the first request that needs it: the jobs bring
    croniter, httpx and the outbound clients with them (about a fifth of a cold
    start, bench/results.md), which /api/health, the console and a 401 or 503
    never use."""
    from lib.jobs.registry import JOBS

    return JOBS


def one_line(error: BaseException) -> str:
    # lib.runner brings the jobs' alerting (croniter, httpx): loaded when an error is worded, not at import.
    from lib.runner import one_line as worded

    return worded(error)


def _database(settings: Settings) -> Database:
    try:
        return database_for(settings)
    except SettingsError as error:
        raise ProblemError(503, str(error)) from None


# -- error answers ----------------------------------------------------------------


async def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error.body, status_code=error.status, headers=headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    message = "not found" if error.status_code == 404 else str(error.detail).lower()
    return JSONResponse({"error": message}, status_code=error.status_code)


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"error": "invalid request"}, status_code=422)


EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
    ProblemError: _problem,
    StarletteHTTPException: _http_error,
    RequestValidationError: _invalid,
}


# -- routes -----------------------------------------------------------------------

router = APIRouter()


@router.get("/api/health")
@router.get("/api/health/", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    try:
        settings = _source(request)()
        db = database_for(settings)
    except SettingsError as error:
        return JSONResponse({"status": "error", "database": "not configured", "error": str(error)}, 503)
    # Every guarded route answers 503 without a usable CRON_SECRET: health says so, naming it.
    unguarded = _secret_problem(settings)
    try:
        await health_check(db)
        # The dead man's switch for an outside uptime monitor: a count, never
        # names (this route needs no secret).
        alerts = await alert_health(db)
    except DatabaseError as error:
        problem = settings.redact(one_line(error))
        log.error("health: database unreachable: %s", problem)
        return JSONResponse({"status": "error", "database": "unreachable", "adapter": db.name, "error": problem}, 503)
    body = {
        "status": "ok",
        "database": "ok",
        "adapter": db.name,
        "overdue_jobs": alerts.overdue,
        "alerts_pending": alerts.pending,
        "alerts_dead": alerts.dead,
    }
    if unguarded:
        return JSONResponse({**body, "status": "error", "error": unguarded}, 503)
    return JSONResponse(body)


def _secret_problem(settings: Settings) -> str | None:
    try:
        accepted_secrets(settings)
    except SettingsError as error:
        return f"{error}: every /api/cron route answers 503 until it is set (at least 16 characters)"
    return None


@router.get("/api/cron/runs")
@router.get("/api/cron/runs/", include_in_schema=False)
async def runs(request: Request, settings: Authorized) -> JSONResponse:
    params: RunsParams = _parse(RunsParams, request)
    jobs = _jobs()
    if params.job is not None and params.job not in jobs:
        raise ProblemError(422, f"unknown job {params.job!r} (known: {', '.join(jobs)})")
    db = _database(settings)
    try:
        rows = await list_runs(db, job=params.job, limit=params.limit)
    except DatabaseError as error:
        status = 503 if isinstance(error, DatabaseUnavailable) else 500
        raise ProblemError(status, settings.redact(one_line(error))) from None
    return JSONResponse({"runs": [asdict(row) for row in rows]})


async def run_route(request: Request, settings: Authorized) -> JSONResponse:
    # Read from the path rather than declared as a parameter: FastAPI checks a
    # declared one against pydantic.v1 models, importing pydantic.v1 at start-up
    # (about 15 ms of a cold start, bench/results.md).
    job_name: str = request.path_params["job_name"]
    jobs = _jobs()
    job = jobs.get(job_name)
    if job is None:
        raise ProblemError(404, f"unknown job {job_name!r} (known: {', '.join(jobs)})")
    params: RunParams = _parse(RunParams, request)
    if params.limit is not None and params.limit > job.max_limit:
        raise ProblemError(422, f"invalid query parameter 'limit': at most {job.max_limit} for {job.name}")
    db = _database(settings)
    problem = job.config_problem(settings)
    if problem:
        log.error("%s cannot run: %s", job.name, problem)
        raise ProblemError(503, problem)
    from lib.runner import new_request_id, run_job

    try:
        report = await run_job(
            job,
            db=db,
            settings=settings,
            trigger=_trigger(request),
            request_id=request.headers.get("x-vercel-id") or new_request_id(),
            dry_run=params.dry_run,
            limit=params.limit,
            jobs=jobs,
        )
    except DatabaseError as error:
        # The run could not even be opened: there is no ledger row to point at.
        problem = settings.redact(one_line(error))
        log.error("%s: could not start a run: %s", job.name, problem)
        status = 503 if isinstance(error, DatabaseUnavailable) else 500
        return JSONResponse(
            {"job": job.name, "run_id": None, "status": RunStatus.ERROR, "error": problem}, status_code=status
        )
    return JSONResponse(report.body(), status_code=500 if report.status == RunStatus.ERROR else 200)


for _path in ("/api/cron/{job_name}", "/api/cron/{job_name}/"):
    router.add_api_route(_path, run_route, methods=["GET", "POST"], include_in_schema=False)


CONSOLE_PREFIX = "/api/ops"
WORKER_PREFIX = "/api/worker"


def include_console(app: FastAPI) -> None:
    """Add the operator console's routes (lib.ops) to `app`, once."""
    if getattr(app.state, "console_included", False):
        return
    from lib.ops import router as ops_router

    app.include_router(ops_router)
    app.state.console_included = True


def include_worker_api(app: FastAPI) -> None:
    """Add the worker API's routes (lib/workers/api.py) to `app`, once."""
    if getattr(app.state, "worker_api_included", False):
        return
    from lib.workers.api import router as worker_router

    app.include_router(worker_router)
    app.state.worker_api_included = True


ON_DEMAND: tuple[tuple[str, Callable[[FastAPI], None]], ...] = (
    (CONSOLE_PREFIX, include_console),
    (WORKER_PREFIX, include_worker_api),
)


class RoutesOnDemand:
    """Includes the console's and the worker API's routes on the first request under their prefix.

    The console (its page, its data API, lib.manage with croniter and the job
    registry) is most of what a cold start would import beyond FastAPI, and the
    worker API and its queries come next; nearly every cold start is a cron call
    that uses neither (bench/results.md).
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for prefix, include in ON_DEMAND:
                if scope["path"].startswith(prefix):
                    include(self.owner)
        await self.app(scope, receive, send)


def create_app(settings_source: Callable[[], Settings] = get_settings) -> FastAPI:
    """The app; `settings_source` is read on every request (the tests hand in their own)."""
    app = FastAPI(title="cronrelay", redirect_slashes=False, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings_source = settings_source
    app.include_router(router)
    app.add_middleware(RoutesOnDemand, owner=app)
    # Outermost of ours: a body over its route's limit is refused before anything reads it.
    app.add_middleware(BodyLimit)
    for error_type, handler in EXCEPTION_HANDLERS.items():
        app.add_exception_handler(error_type, handler)
    return app
