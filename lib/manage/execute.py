"""Run now runs now: execute a request queued by Run now or Retry in the same call.

The request goes through the drain's own executor (lib/jobs/request_executor.py:
the same claim, lease, token-guarded settle, payload and budget), so the
answer carries the settled request. One that cannot start at once stays
queued, and the answer says why: held for a missing setting, its builtin
job's lease held by another run, or taken by a drain already.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from lib.db.port import Database
from lib.db.queries.run_requests import hold_run_requests
from lib.db.statuses import Trigger
from lib.jobs.base import Job
from lib.jobs.registry import JOBS
from lib.jobs.run_requests import blocked_by_settings, run_at_once
from lib.manage.models import RequestView
from lib.manage.requests import get_request
from lib.settings import Settings


class Executed(BaseModel):
    """What Run now and Retry answer: the request as it ended this call."""

    request: RequestView
    # It ran in this call (done, error, or back in the queue for a retry after a failed attempt).
    started: bool
    # Why it did not start at once and waits in the queue; None when it started.
    waiting: str | None = None


async def execute_now(
    db: Database, settings: Settings, queued: RequestView, *, jobs: Mapping[str, Job] = JOBS
) -> Executed:
    """Execute `queued` (just made by run_now or retry_request) now, and answer with it settled."""
    stats = await run_at_once(db, settings, jobs, [str(queued.id)], trigger=Trigger.MANUAL)
    settled = await get_request(db, queued.id)
    if stats["claimed"] and not stats["released"]:
        return Executed(request=settled, started=True)
    if settled.status in ("done", "error"):
        # Another drain took it first and has finished it.
        return Executed(request=settled, started=True)
    if settled.status == "running":
        return Executed(request=settled, started=False, waiting="a drain picked it up first; it is running there")
    if stats["released"]:
        return Executed(
            request=settled,
            started=False,
            waiting=f"another run of {settled.job_name} holds its lease; the drain runs this request once it is free",
        )
    blocked = blocked_by_settings(settings, jobs)
    if blocked and settled.held_reason is None:
        # Not claimed because a setting is missing: mark it held, so the
        # console and CLI show why it waits (no attempt is spent).
        await hold_run_requests(db, blocked=blocked)
        settled = await get_request(db, queued.id)
    if settled.held_reason:
        return Executed(request=settled, started=False, waiting=f"held: {settled.held_reason}")
    return Executed(request=settled, started=False, waiting="queued: it runs when the drain or its worker picks it up")
