"""The console's JSON API under /api/ops/: jobs, run requests, runs, status, alerts, workers, operators and
the audit, and one's own password (me).

One module per resource, each a `router` on `OpsRoute` (so its answers carry
the console's security headers and its errors are JSON), with paths relative
to /api/ops. lib/ops/routes.py includes `router` in the console's router.
"""

from __future__ import annotations

from fastapi import APIRouter

from lib.ops.api import alerts, jobs, me, operators, requests, runs, status, workers
from lib.ops.routes import OpsRoute

router: APIRouter = APIRouter(route_class=OpsRoute)
for _resource in (jobs, requests, runs, status, alerts, operators, me, workers):
    router.include_router(_resource.router)

__all__ = ["router"]
