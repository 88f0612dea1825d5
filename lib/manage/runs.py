"""The run ledger, paged and filtered."""

from __future__ import annotations

from lib.db.port import Database
from lib.db.queries import manage as queries
from lib.manage.errors import translated
from lib.manage.jobs import page_bounds
from lib.manage.models import RunPage, RunView
from lib.manage.validate import invalid

STATUSES = ("running", "ok", "partial", "skipped", "error")


async def list_runs(
    db: Database, *, job: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
) -> RunPage:
    """Ledger rows, newest first, of one job and/or status: one round trip."""
    if status is not None and status not in STATUSES:
        raise invalid("status", "status must be running, ok, partial, skipped or error")
    limit, offset = page_bounds(limit, offset)
    with translated():
        page = await queries.ops_list_runs(db, job=job, status=status, limit=limit, offset=offset)
    return RunPage(runs=[RunView.model_validate(dict(run)) for run in page.runs], has_more=page.has_more)
