"""The operator console's own routes: the page, its two assets, and sign-in.

Every answer from a route on this router (errors included) carries the
console's security headers: a strict CSP, nosniff, same-origin referrers and
no caching. Routes that serve data (jobs, requests, runs, status) belong on
this `router` too, or on another `APIRouter(route_class=OpsRoute)`, so they get
the same headers and `OpsError` answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute

from lib.auth import Unauthorized, check_authorization
from lib.ops.last_resort import last_resort
from lib.ops.session import (
    COOKIE_NAME,
    COOKIE_PATH,
    SESSION_SECONDS,
    OpsError,
    authenticate,
    mint_token,
    origin_allowed_if_present,
    request_scheme,
    secrets_or_503,
    settings_or_503,
)

log = logging.getLogger("cronrelay.ops")

HERE = Path(__file__).resolve().parent
PAGE = HERE / "templates" / "ops.html"
ASSETS = {
    "ops.css": ("text/css; charset=utf-8", HERE / "static" / "ops.css"),
    "ops.js": ("text/javascript; charset=utf-8", HERE / "static" / "ops.js"),
}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
MAX_LOGIN_BODY = 4096


def _error_answer(error: Exception) -> JSONResponse | None:
    """The JSON answer for a guard or problem error, or None for anything else."""
    if isinstance(error, OpsError):
        status, body = error.status, error.body
    else:
        # lib.app's ProblemError, raised by data routes; imported here because
        # lib.app imports this module.
        from lib.app import ProblemError

        if not isinstance(error, ProblemError):
            return None
        status, body = error.status, error.body
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class OpsRoute(APIRoute):
    """Adds the security headers to every answer, and turns guard errors into JSON answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as error:
                # Anything else is answered as JSON too (lib/ops/last_resort.py), 5xx included.
                response = _error_answer(error) or last_resort(error)
            response.headers.update(SECURITY_HEADERS)
            return response

        return route_handler


router = APIRouter(prefix="/api/ops", route_class=OpsRoute)


# -- the page and its assets ------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def page() -> Response:
    # Served as a file: the page holds no data and no secret; it asks the API for everything.
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")


@router.get("/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise OpsError(404, "not found")
    media_type, path = found
    return FileResponse(path, media_type=media_type)


# -- session ------------------------------------------------------------------------


async def _presented_secret(request: Request) -> str:
    """The `secret` of a JSON body or a form post; 422 when there is none."""
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        raise OpsError(413, "the sign-in body is too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    value: Any = None
    if kind == "application/json":
        try:
            parsed = json.loads(body or b"null")
        except (ValueError, RecursionError):
            raise OpsError(422, "the sign-in body is not valid JSON", field="secret") from None
        value = parsed.get("secret") if isinstance(parsed, dict) else None
    elif kind == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace")).get("secret", [])
        value = values[0] if len(values) == 1 else None
    else:
        raise OpsError(415, 'send {"secret": "..."} as application/json, or a form field secret')
    if not isinstance(value, str) or not value.strip():
        raise OpsError(422, "secret is required", field="secret")
    return value


def _set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request_scheme(request) == "https",
        httponly=True,
        samesite="strict",
    )


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    if not origin_allowed_if_present(request):
        raise OpsError(403, "sign-in must come from the console's own origin")
    settings = settings_or_503(request)
    keys_from = secrets_or_503(settings)
    presented = await _presented_secret(request)
    try:
        # The same constant-time check as the bearer header; the value is never logged.
        check_authorization(settings, f"Bearer {presented.strip()}")
    except Unauthorized:
        log.warning("ops: sign-in with a wrong secret")
        raise OpsError(401, "wrong secret") from None
    response = JSONResponse({"signed_in": True})
    # Signed with CRON_SECRET's key, so rotating CRON_SECRET ends the session.
    _set_session_cookie(response, request, mint_token(keys_from[0]), SESSION_SECONDS)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    # Needs no session: signing out is always allowed, and only clears this browser's cookie.
    if not origin_allowed_if_present(request):
        raise OpsError(403, "sign-out must come from the console's own origin")
    response = JSONResponse({"signed_in": False})
    _set_session_cookie(response, request, "", 0)
    return response


@router.get("/session", include_in_schema=False)
async def session(request: Request) -> Response:
    """Never 401: the page asks this to choose between the sign-in form and the console."""
    # The guard's own rules decide; only its 401 becomes "not signed in" (a 503 stays a 503).
    try:
        authenticate(request)
    except OpsError as error:
        if error.status != 401:
            raise
        return JSONResponse({"signed_in": False})
    return JSONResponse({"signed_in": True})


# -- the data API (jobs, requests, runs, status): lib/ops/api/, one module per resource --------
# Imported last: its modules take OpsRoute from this one.
from lib.ops.api import router as api_router  # noqa: E402

router.include_router(api_router)
