"""The one registry of jobs. Routes, the CLI and the run-request drain all read it."""

from __future__ import annotations

from lib.jobs import check_stale, cleanup_heartbeats, reminders, run_requests, schedule
from lib.jobs.base import Job

JOBS: dict[str, Job] = {
    module.JOB.name: module.JOB
    for module in (
        check_stale,
        cleanup_heartbeats,
        reminders,
        run_requests,
        schedule,
    )
}
