"""The operator console's own routes: the page and its assets (sign-in: lib/ops/signin.py).

Every answer from a route on this router (errors included) carries the
console's security headers: a strict CSP, nosniff, same-origin referrers and
no caching. Routes that serve data (jobs, requests, runs, status) belong on
this `router` too, or on another `APIRouter(route_class=OpsRoute)`, so they get
the same headers and `OpsError` answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute

from lib.ops.last_resort import last_resort
from lib.ops.session import OpsError
from lib.problems import ProblemError

log = logging.getLogger("cronrelay.ops")

HERE = Path(__file__).resolve().parent
PAGE = HERE / "templates" / "ops.html"
STATIC = HERE / "static"
JS = "text/javascript; charset=utf-8"


def _assets() -> dict[str, tuple[str, Path]]:
    """The allow-list of assets by URL name: the stylesheet and the console's ES modules (static/ops/).

    Built once from the folder, so a request can only ever name one of these files: no path
    from the URL reaches the filesystem, and `..` or an encoded slash is simply not a key.
    """
    assets = {"ops.css": ("text/css; charset=utf-8", STATIC / "ops.css")}
    for module in sorted((STATIC / "ops").glob("*.js")):
        assets[f"ops/{module.name}"] = (JS, module)
    return assets


ASSETS = _assets()

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


def _error_answer(error: Exception) -> JSONResponse | None:
    """The JSON answer for a guard or problem error, or None for anything else."""
    if not isinstance(error, ProblemError):
        return None
    status, body = error.status, error.body
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 429 and isinstance(body.get("retry_after"), int):
        headers["Retry-After"] = str(body["retry_after"])
    return JSONResponse(body, status_code=status, headers=headers or None)


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


# `:path` lets a name hold the modules' folder ("ops/main.js"); it is only ever a key of ASSETS.
@router.get("/assets/{name:path}", include_in_schema=False)
async def asset(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise OpsError(404, "not found")
    media_type, path = found
    return FileResponse(path, media_type=media_type)


# -- sign-in, sign-out and the session: lib/ops/signin.py ------------------------------
# -- the data API (jobs, requests, runs, status, operators): lib/ops/api/, one module per resource --------
# Imported last: their modules take OpsRoute from this one.
from lib.ops.api import router as api_router  # noqa: E402
from lib.ops.signin import router as signin_router  # noqa: E402

router.include_router(signin_router)
router.include_router(api_router)
