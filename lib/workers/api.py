"""The worker API under /api/worker/: sync, claim (long-poll), extend and settle, with the worker's own token.

Each route is a thin shell over one SQL function (repeatable/workers.sql)
that checks the token, records the worker's heartbeat and scopes the move to
the worker's own jobs, all in the same database round trip. The token goes to
the database as it came (the SQL hashes it); it is never logged or echoed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lib.app import current_settings, one_line
from lib.db import Database, DatabaseError, DatabaseUnavailable, database_for
from lib.db.queries import workers as queries
from lib.problems import ProblemError
from lib.settings import Settings, SettingsError
from lib.workers.tokens import looks_like_token

log = logging.getLogger("cronrelay.workers")

PREFIX = "/api/worker"
# A long-poll asks the database this often whether a request has arrived:
# half a second on average between a request's arrival and its claim.
POLL_SECONDS = 0.5
MAX_WAIT_SECONDS = 25.0
# What the run budget keeps back from a long-poll, so the answer is sent before the function is stopped.
BUDGET_RESERVE_SECONDS = 5.0
# A sync carries up to 1000 jobs with their instructions; every other body is small.
MAX_SYNC_BODY = 4 * 1024 * 1024
MAX_BODY = 256 * 1024

Body = TypeVar("Body", bound=BaseModel)


class MirroredJob(BaseModel):
    """One of the worker's jobs as it reports it (the run-queue plan's cron_mirror columns)."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)
    schedule_kind: str | None = Field(None, max_length=50)
    schedule_expr: str | None = Field(None, max_length=500)
    tz: str | None = Field(None, max_length=100)
    enabled: bool | None = None
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_status: str | None = Field(None, max_length=50)
    last_duration_ms: int | None = Field(None, ge=0, le=2_147_483_647)
    instructions: str | None = Field(None, max_length=10_000)


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[MirroredJob] = Field(max_length=1000)
    complete: bool = False


class ClaimBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(1, ge=1, le=50)
    wait_seconds: float = Field(0, ge=0, le=MAX_WAIT_SECONDS)
    lease_seconds: int = Field(60, ge=5, le=3600)


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claim_token: UUID
    lease_seconds: int = Field(60, ge=5, le=3600)


class SettleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claim_token: UUID
    outcome: Literal["done", "error", "retry"]
    # The worker's account of the run: exit_code, duration_ms, output, error.
    result: dict[str, Any] | None = None
    # For retry: when to run it again (default: a backoff that doubles per attempt).
    delay_seconds: float | None = Field(None, ge=0, le=86_400)


def _token(request: Request) -> str:
    """The bearer token, or a 401 before any database call."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not looks_like_token(value):
        raise ProblemError(401, "unauthorized")
    return value


WorkerToken = Annotated[str, Depends(_token)]
Configured = Annotated[Settings, Depends(current_settings)]


def _database(settings: Settings) -> Database:
    try:
        return database_for(settings)
    except SettingsError as error:
        raise ProblemError(503, str(error)) from None


async def _body(request: Request, model: type[Body], limit: int) -> Body:
    """The JSON body through `model`: 413 past `limit` (read no further), 422 naming the field otherwise."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"the body is larger than {limit // 1024} KB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(413, f"the body is larger than {limit // 1024} KB")
        chunks.append(chunk)
    raw = b"".join(chunks).strip() or b"{}"
    try:
        body = model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ProblemError(422, f"invalid field {where!r}: {first['msg']}", field=where) from None
    if _holds_nul(body.model_dump()):
        # Postgres text and jsonb cannot hold U+0000: refused here, not a database error later.
        raise ProblemError(422, "the body contains a NUL character (\\u0000), which the database cannot store")
    return body


def _holds_nul(value: Any) -> bool:
    """Whether a string anywhere in `value` (keys included) holds U+0000; a loop, so any depth is fine."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def _calling(settings: Settings, action: Any) -> Any:
    """Await one query, its errors turned into the API's answers (401 for a refused token)."""
    try:
        return await action
    except DatabaseUnavailable as error:
        log.error("worker api: database unreachable: %s", settings.redact(one_line(error)))
        raise ProblemError(503, "the database cannot be reached; try again shortly") from None
    except DatabaseError as error:
        code = error.code or ""
        if code == queries.REFUSED:
            raise ProblemError(401, "unauthorized: this worker's token is unknown or revoked") from None
        if code in ("PT422", "22023"):
            raise ProblemError(422, str(error).splitlines()[0][:300]) from None
        problem = settings.redact(one_line(error))
        log.error("worker api: database error: %s", problem)
        raise ProblemError(500, problem) from None


router = APIRouter(prefix=PREFIX)


@router.post("/sync")
async def sync(request: Request, token: WorkerToken, settings: Configured) -> JSONResponse:
    body = await _body(request, SyncBody, MAX_SYNC_BODY)
    jobs = [job.model_dump(mode="json") for job in body.jobs]
    outcome = await _calling(
        settings, queries.worker_sync(_database(settings), token=token, jobs=jobs, complete=body.complete)
    )
    return JSONResponse({"upserted": outcome.upserted, "removed": outcome.removed, "rejected": outcome.rejected})


@router.post("/claim")
async def claim(request: Request, token: WorkerToken, settings: Configured) -> JSONResponse:
    """Claim up to `limit` requests, waiting up to `wait_seconds` (within the run budget) for one to arrive."""
    body = await _body(request, ClaimBody, MAX_BODY)
    db = _database(settings)
    wait = max(0.0, min(body.wait_seconds, settings.run_time_budget_seconds - BUDGET_RESERVE_SECONDS))
    ends = time.monotonic() + wait
    while True:
        # Every poll checks the token again, so a revoked worker's wait ends with a 401.
        claimed = await _calling(
            settings, queries.worker_claim(db, token=token, limit=body.limit, lease_seconds=body.lease_seconds)
        )
        left = ends - time.monotonic()
        if claimed or left <= 0 or await request.is_disconnected():
            break
        await asyncio.sleep(min(POLL_SECONDS, left))
    return JSONResponse({"requests": [_claimed_json(item) for item in claimed]})


def _claimed_json(item: queries.ClaimedRequest) -> dict[str, Any]:
    return {
        "id": item.id,
        "job_id": item.job_id,
        "job_key": item.job_key,
        "job_name": item.job_name,
        "payload": item.payload,
        "instructions": item.instructions,
        "attempt": item.attempt,
        "max_attempts": item.max_attempts,
        "requested_at": item.requested_at.isoformat(),
        "requested_by": item.requested_by,
        "locked_until": item.locked_until.isoformat(),
        "claim_token": item.claim_token,
        "recovered": item.recovered,
    }


def _request_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["request_id"])
    except ValueError:
        raise ProblemError(404, "no such run request") from None


STALE = "stale claim token: the request was settled, or claimed again after this claim's lease lapsed"


@router.post("/requests/{request_id}/extend")
async def extend(request: Request, token: WorkerToken, settings: Configured) -> JSONResponse:
    request_id = _request_id(request)
    body = await _body(request, ExtendBody, MAX_BODY)
    until = await _calling(
        settings,
        queries.worker_extend(
            _database(settings),
            token=token,
            request_id=request_id,
            claim_token=body.claim_token,
            lease_seconds=body.lease_seconds,
        ),
    )
    if until is None:
        raise ProblemError(409, STALE)
    return JSONResponse({"id": str(request_id), "locked_until": until.isoformat()})


@router.post("/requests/{request_id}/settle")
async def settle(request: Request, token: WorkerToken, settings: Configured) -> JSONResponse:
    request_id = _request_id(request)
    body = await _body(request, SettleBody, MAX_BODY)
    outcome: dict[str, Any] = {
        "id": str(request_id),
        "claim_token": str(body.claim_token),
        "outcome": body.outcome,
        "result": body.result,
    }
    if body.delay_seconds is not None:
        outcome["delay_seconds"] = body.delay_seconds
    settled = await _calling(settings, queries.worker_settle(_database(settings), token=token, outcomes=[outcome]))
    if not settled:
        raise ProblemError(409, STALE)
    return JSONResponse({"id": settled[0].id, "status": settled[0].status, "outcome": settled[0].outcome})
