"""/api/ops/status: what the page's banner says: is the database there, is a setting missing."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lib.alerts.channels import problems as alert_channel_problems
from lib.db import DatabaseError, database_for
from lib.db.queries.health import health_check
from lib.jobs.registry import JOBS
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsReader
from lib.runner import one_line
from lib.settings import Settings, SettingsError

log = logging.getLogger("cronrelay.ops")

router = APIRouter(route_class=OpsRoute)


def setting_problems(settings: Settings) -> list[str]:
    """A line per job that cannot run for want of a setting; it names the variable, never its value."""
    problems = []
    for name, job in JOBS.items():
        problem = job.config_problem(settings)
        if problem:
            problems.append(f"{name} cannot run: {problem}")
    if settings.webhook_signing_secret is None:
        problems.append("webhook jobs cannot run: WEBHOOK_SIGNING_SECRET is not set, so their calls cannot be signed")
    return problems + alert_channel_problems(settings)


@router.get("/status")
async def status(access: OpsReader) -> JSONResponse:
    """Always 200 once signed in: the answer is the state, for the banner (a 503 would hide it)."""
    settings = access.settings
    problems = setting_problems(settings)
    try:
        db = database_for(settings)
    except SettingsError as error:
        return JSONResponse({"database": "not configured", "problems": [str(error), *problems]})
    try:
        await health_check(db)
    except DatabaseError as error:
        log.error("ops status: database unreachable: %s", settings.redact(one_line(error)))
        line = "the database cannot be reached; jobs, requests and runs cannot be shown until it answers"
        return JSONResponse({"database": "unreachable", "problems": [line, *problems]})
    return JSONResponse({"database": "ok", "problems": problems})
